"""`python -m trainer`: train a policy on a lake and publish it as a new version.

Mistakes (bad flags, an impossible map, an unwritable artifact root) end with one line
on stderr and a non-zero exit, checked before any training time is spent. TensorFlow is
imported only after those checks, so `--help` and errors answer at once.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import tempfile
from pathlib import Path

from policy_artifacts import ArtifactError, check_policy_name, list_versions
from trainer.config import Hyperparameters, hyperparameter_fields
from trainer.lake import LakeError, LakeSpec

EXIT_USAGE, EXIT_FAILURE, EXIT_INTERRUPTED = 2, 1, 130
_TYPES = {"int": int, "float": float, "bool": bool}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer",
        description="Train an A2C policy on FrozenLake with Keras and publish it as a new version.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    lake = parser.add_argument_group("lake")
    lake.add_argument("--map", default="4x4", choices=["4x4", "8x8"], help="Named gymnasium map.")
    lake.add_argument("--slippery", action="store_true", help="Slippery ice: moves go sideways 2 times in 3.")
    lake.add_argument("--desc", help="Custom map as comma-separated rows, e.g. SFFF,FHFH,FFFH,HFFG.")
    lake.add_argument("--random-map", type=int, metavar="SIZE", help="Random SIZExSIZE map (gymnasium's generator).")
    lake.add_argument("--map-seed", type=int, help="Seed of the random map.")
    lake.add_argument("--max-episode-steps", type=int, help="Step limit (default: 100 for 4x4, 200 for 8x8).")

    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=int, help="Seed for a repeatable run (default: a random one, recorded).")
    run.add_argument(
        "--artifact-root", type=Path, default=Path(os.environ.get("LAKE_ARTIFACT_ROOT", "artifacts")),
        help="Where versions are published (env LAKE_ARTIFACT_ROOT).",
    )
    run.add_argument("--policy", help="Policy name (default: from the lake, e.g. frozenlake-8x8-slippery).")
    run.add_argument("--quiet", action="store_true", help="No progress bar; print only the result line.")
    run.add_argument("--if-missing", action="store_true",
                     help="Do nothing if the policy already has a version (for first-start jobs).")

    hyper = parser.add_argument_group("hyperparameters")
    for name, type_name, default, help_text in hyperparameter_fields():
        flag = "--" + name.replace("_", "-")
        if type_name == "bool":
            hyper.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        else:
            hyper.add_argument(flag, type=_TYPES[type_name], default=default, help=help_text)
    return parser


def _hyperparameters(args: argparse.Namespace) -> Hyperparameters:
    values = {name: getattr(args, name) for name, *_ in hyperparameter_fields()}
    positive = ["n_envs", "n_steps", "budget", "eval_every"]
    for name in positive:
        if values[name] < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ["gamma", "gae_lambda", "epsilon_start", "epsilon_final"]:
        if not 0.0 <= values[name] <= 1.0:
            raise ValueError(f"--{name.replace('_', '-')} must be between 0 and 1")
    if not 0.0 < values["target"] <= 1.0:
        raise ValueError("--target must be in (0, 1]")
    if not 0.0 <= values["sampled_target"] <= 1.0:
        raise ValueError("--sampled-target must be between 0 and 1")
    return Hyperparameters(**values)


def _check_writable(root: Path) -> None:
    """Raises OSError with a clear message unless a version could be written under root."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise OSError(f"artifact root {root} is not writable: {exc.strerror or exc}") from None


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = LakeSpec.create(
            map_name=args.map, desc=args.desc, random_map=args.random_map, map_seed=args.map_seed,
            is_slippery=args.slippery, max_episode_steps=args.max_episode_steps,
        )
        hp = _hyperparameters(args)
        policy = check_policy_name(args.policy or spec.default_policy_name)
        _check_writable(args.artifact_root)
    except (LakeError, ValueError, ArtifactError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if not isinstance(exc, OSError) else EXIT_FAILURE
    existing = list_versions(args.artifact_root, policy)
    if args.if_missing and existing:
        print(f"{policy} already has version {existing[-1]} under {args.artifact_root}: not training (--if-missing)")
        return 0
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)

    # SIGTERM (docker stop, kill) takes the same path as Ctrl-C: stop, publish nothing.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from trainer.evaluation import best_success_probability

        optimal, _ = best_success_probability(spec.table, spec.max_episode_steps)
        if optimal == 0.0:
            print(f"error: the goal cannot be reached within {spec.max_episode_steps} steps on this map",
                  file=sys.stderr)
            return EXIT_USAGE
        from trainer.a2c import train
        from trainer.progress import ProgressBar
        from trainer.publish import publish_result

        with ProgressBar(total=hp.budget, enabled=not args.quiet) as bar:
            result = train(spec, hp, seed=seed, on_progress=bar.update)
        published = publish_result(args.artifact_root, policy, spec, hp, seed, result)
    except KeyboardInterrupt:
        print("interrupted: nothing was published", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ArtifactError, OSError) as exc:
        print(f"error: could not publish: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(
        f"published {published.policy} version {published.version} at {published.path}: "
        f"greedy success {result.success_rate:.3f}, sampled {result.sampled_success_rate:.3f} "
        f"(best possible {result.optimal_success_rate:.3f}), "
        f"{result.env_steps} env steps in {result.seconds:.1f} s, stopped on {result.stopped_because}"
    )
    return 0
