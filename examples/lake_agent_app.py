"""An app that uses a served policy: a tiny 'autopilot' that walks a FrozenLake agent.

Run the service first (`bash scripts/serve.sh`), then:

    .venv/bin/python examples/lake_agent_app.py --url http://127.0.0.1:8000

It shows the three things an integrating app usually needs: ask for an action, ask how
confident the policy is (its probabilities and the critic's value), and handle the
server's errors and restarts (the client retries 503s and connection errors itself).
"""

from __future__ import annotations

import argparse

import gymnasium as gym

from policy_client import PolicyClient, PolicyServiceError


def walk_once(client: PolicyClient, policy: str | None) -> None:
    table = client.policy_table(policy)
    status = client.model(table.policy)
    env_spec = next(v.env for v in status.versions if v.version == table.version)
    env = gym.make(env_spec["id"], **env_spec["kwargs"])
    state, _ = env.reset(seed=0)
    print(f"walking {table.policy} v{table.version} on {'/'.join(table.desc)}")
    while True:
        decision = client.act(state, mode="greedy", policy=table.policy)
        confidence = max(client.probabilities(state, policy=table.policy).probabilities)
        value = client.value(state, policy=table.policy).value
        print(f"  state {state:2d}: {decision.action_name:5s} (p={confidence:.2f}, V={value:.3f})")
        state, reward, terminated, truncated, _ = env.step(decision.action)
        if terminated or truncated:
            print("  reached the goal" if reward > 0 else "  fell in a hole or ran out of steps")
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--policy", help="Policy name (default: the server's default).")
    args = parser.parse_args()
    try:
        walk_once(PolicyClient(args.url), args.policy)
    except PolicyServiceError as error:
        print(f"the service refused: {error.status} {error.code}: {error.message}")


if __name__ == "__main__":
    main()
