"""`policy-client`: the client's command line (today one command, `play`).

Its `play` needs gymnasium (the `play` extra); without it, it says so in one line.
"""

from __future__ import annotations

import argparse
import sys

import requests

from policy_client.client import PolicyClient, PolicyServiceError

PLAY_EXTRA = "pip install 'keras-policy-client[play]'"
EXIT_USAGE = 2


def build_parser(prog: str = "policy-client") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Talk to a policy server.")
    commands = parser.add_subparsers(dest="command", required=True)
    play_parser = commands.add_parser(
        "play", help=f"Play episodes of the policy's own environment, asking the service for every action "
                     f"(needs gymnasium: {PLAY_EXTRA}).")
    play_parser.add_argument("--url", default="http://127.0.0.1:8000")
    play_parser.add_argument("--episodes", type=int, default=1000)
    play_parser.add_argument("--policy", help="Policy name (default: the server's default).")
    play_parser.add_argument("--mode", choices=["greedy", "sample"], default="greedy",
                             help="greedy matches the manifest's exact figure, which is for the greedy policy.")
    play_parser.add_argument("--seed", type=int, default=0)
    play_parser.add_argument("--use-action-mask", action="store_true",
                             help="Send the env's info['action_mask'] (Taxi has one) with every request.")
    return parser


def describe(result: dict, mode: str) -> str:
    """Returns the result line: the played figures, beside the manifest's own."""
    line = (f"{result['policy']} v{','.join(map(str, result['versions']))} on {result['env']}: "
            f"{result['episodes']} episodes, mean return {result['mean_return']:.3f} "
            f"± {result['standard_error']:.3f} (played, {mode})")
    if result["success_rate"] is not None:
        line += (f"; success {result['success_rate']:.3f} ± {result['success_standard_error']:.3f}, "
                 f"exact greedy success from the manifest {result['exact_success_rate']:.3f}")
    elif result["manifest_value"] is not None:
        line += f"; the manifest's {result['manifest_metric']}: {result['manifest_value']:.3f}"
    return line


def main(argv: list[str] | None = None, prog: str = "policy-client") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    try:
        from policy_client.play import EnvironmentUnavailable, play
    except ModuleNotFoundError as exc:
        if (exc.name or "policy_client").startswith("policy_client"):
            raise
        print(f"error: {prog} play needs {exc.name.split('.')[0]}: {PLAY_EXTRA}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = play(PolicyClient(args.url), args.episodes, args.policy, args.mode, args.seed, args.use_action_mask)
    except (PolicyServiceError, requests.ConnectionError, EnvironmentUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(describe(result, args.mode))
    return 0
