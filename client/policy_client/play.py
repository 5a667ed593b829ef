"""Plays a served policy's own environment with gymnasium, asking the service for every action.

Needs the `play` extra (gymnasium): `pip install 'keras-policy-client[play]'`.
"""

from __future__ import annotations

import math
from typing import Literal

import gymnasium as gym

from policy_client.client import Mode, PolicyClient, PolicyServiceError
from policy_client.schemas import VersionStatus

# What ends an episode as a success, in the trainer's words (its transition table's goal).
Goal = Literal["positive_reward", "termination"] | None


def goal_of(evaluation: dict | None) -> Goal:
    """Returns what counted as reaching the goal when the trainer evaluated this version.

    The manifest gives a success rate only where the environment has a goal. Where success
    is the metric itself, reaching the goal is all that pays (FrozenLake: a hole ends the
    episode too, with nothing): success is an ending that pays. Where the metric is the
    return, the goal is the only way an episode terminates (Taxi's right drop-off,
    CliffWalking's far corner, which pays -1 like every step): success is termination.
    """
    if not evaluation or evaluation.get("success_rate") is None:
        return None
    return "positive_reward" if evaluation.get("metric") == "success_rate" else "termination"


def served_version(client: PolicyClient, policy: str | None) -> tuple[str, VersionStatus]:
    """Returns (policy name, status of its served version)."""
    if policy is None:
        policy = client.models().default_policy
        if policy is None:
            raise PolicyServiceError(422, "invalid_request", "several policies are served; name one with --policy")
    status = client.model(policy)
    served = next((v for v in status.versions if v.version == status.served_version), None)
    if served is None or not served.env:
        raise PolicyServiceError(503, "not_ready", f"{policy} serves no version yet")
    return policy, served


def _as_json(observation):
    return observation.tolist() if hasattr(observation, "tolist") else int(observation)


def action_for_env(action_space: dict | None):
    """Returns how an answered action is handed to env.step: a discrete action as its index,
    a Box action as a numpy array of the space's dtype (gymnasium's Box envs take nothing else)."""
    if not action_space or action_space.get("kind") != "box":
        return lambda action: action
    import numpy as np  # gymnasium's own dependency: present wherever play runs

    dtype = np.dtype(action_space["dtype"])
    return lambda action: np.asarray(action, dtype=dtype)


class EnvironmentUnavailable(RuntimeError):
    """The policy's environment cannot be made on this machine."""


def play(client: PolicyClient, episodes: int, policy: str | None, mode: Mode, seed: int,
         use_action_mask: bool = False) -> dict:
    """Returns the mean return (and success rate, where the manifest has a goal) of `episodes`
    games of the policy's own environment, every action asked of the service.

    All games are stepped together, and each step asks for every game's action in one
    batched request, so a thousand games take seconds rather than minutes.
    """
    policy, served = served_version(client, policy)
    env_spec = served.env
    evaluation = served.evaluation or {}
    goal = goal_of(evaluation)
    as_env_action = action_for_env(served.action_space)
    make_kwargs = dict(env_spec["kwargs"])
    if env_spec.get("max_episode_steps"):
        make_kwargs["max_episode_steps"] = env_spec["max_episode_steps"]
    try:
        envs = [gym.make(env_spec["id"], **make_kwargs) for _ in range(episodes)]
    except Exception as exc:  # the env's package missing here, an option this gymnasium lacks
        raise EnvironmentUnavailable(
            f"cannot make the policy's environment {env_spec['id']!r} here ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); install the package that provides it") from None
    resets = [env.reset(seed=seed + i) for i, env in enumerate(envs)]
    observations, infos = [r[0] for r in resets], [r[1] for r in resets]
    returns, reached_goal = [0.0] * episodes, [False] * episodes
    active, versions, step = list(range(episodes)), set(), 0
    while active:
        masks = [list(map(int, infos[i]["action_mask"])) for i in active] if use_action_mask else None
        answer = client.act_batch([_as_json(observations[i]) for i in active], mode=mode, policy=policy,
                                  seed=None if mode == "greedy" else seed + step, action_mask=masks)
        versions.add(answer.version)
        still_active = []
        for i, action in zip(active, answer.actions):
            observations[i], reward, terminated, truncated, infos[i] = envs[i].step(as_env_action(action))
            returns[i] += float(reward)
            if terminated or truncated:
                # Truncation by the step limit never reaches the goal, whatever it paid.
                reached_goal[i] = bool(terminated) and (goal == "termination" or reward > 0)
            else:
                still_active.append(i)
        active, step = still_active, step + 1
    mean = sum(returns) / episodes
    spread = math.sqrt(sum((r - mean) ** 2 for r in returns) / max(episodes - 1, 1) / episodes)
    rate = sum(reached_goal) / episodes if goal else None
    return {"policy": policy, "versions": sorted(versions), "episodes": episodes, "env": env_spec["id"],
            "mean_return": mean, "standard_error": spread, "goal": goal,
            "success_rate": rate, "success_standard_error": math.sqrt(rate * (1 - rate) / episodes) if goal else None,
            "manifest_metric": evaluation.get("metric"), "manifest_value": evaluation.get("value"),
            "exact_success_rate": evaluation.get("success_rate")}
