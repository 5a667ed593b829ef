"""A small Python client for the policy server, and an agent that plays through it.

    from service.client import PolicyClient
    client = PolicyClient("http://127.0.0.1:8000")
    client.act(0, mode="greedy").action

    python -m service.client play --episodes 1000 --url http://127.0.0.1:8000 [--policy cartpole]

Needs only requests and pydantic (no TensorFlow). Results are the server's own pydantic
models; connection errors and 503s are retried with exponential backoff (urllib3's
`Retry`, honouring `Retry-After`); any other error raises `PolicyServiceError` carrying
the server's JSON error.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Literal

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from service.schemas import (
    ActResponse, ModelsResponse, PolicyStatus, PolicyTableResponse, ProbabilitiesResponse, ValueResponse,
)

Mode = Literal["sample", "greedy"]
Observation = int | list  # an integer state (discrete spaces) or a list of numbers (Box spaces)


class PolicyServiceError(Exception):
    """The server answered with an error; `status`, `code`, `message`, `details` are its own."""

    def __init__(self, status: int, code: str, message: str, details: list | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details or []


class PolicyClient:
    def __init__(self, base_url: str, timeout: float = 5.0, retries: int = 5, backoff: float = 0.2):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        retry = Retry(
            total=retries, connect=retries, read=0, status=retries, backoff_factor=backoff,
            status_forcelist=[503], allowed_methods=None,  # POSTs here are all read-only: safe to retry
            respect_retry_after_header=True, raise_on_status=False,
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                raise PolicyServiceError(response.status_code, "http_error", response.text[:200]) from None
            raise PolicyServiceError(error["status"], error["code"], error["message"], error.get("details"))
        return response.json()

    @staticmethod
    def _body(**fields) -> dict:
        return {k: v for k, v in fields.items() if v is not None}

    def act(self, observation: Observation, mode: Mode = "sample", policy: str | None = None,
            version: int | str | None = None, seed: int | None = None,
            action_mask: list[int] | None = None) -> ActResponse:
        body = self._body(observation=observation, mode=mode, policy=policy, version=version, seed=seed,
                          action_mask=action_mask)
        return ActResponse.model_validate(self._call("POST", "/act", json=body))

    def act_batch(self, observations: list[Observation], mode: Mode = "sample", policy: str | None = None,
                  version: int | str | None = None, seed: int | None = None,
                  action_mask: list[list[int]] | None = None) -> ActResponse:
        body = self._body(observations=list(observations), mode=mode, policy=policy, version=version, seed=seed,
                          action_mask=action_mask)
        return ActResponse.model_validate(self._call("POST", "/act", json=body))

    def value(self, observation: Observation, policy: str | None = None, version: int | str | None = None) -> ValueResponse:
        body = self._body(observation=observation, policy=policy, version=version)
        return ValueResponse.model_validate(self._call("POST", "/value", json=body))

    def values(self, observations: list[Observation], policy: str | None = None,
               version: int | str | None = None) -> ValueResponse:
        body = self._body(observations=list(observations), policy=policy, version=version)
        return ValueResponse.model_validate(self._call("POST", "/value", json=body))

    def probabilities(self, observation: Observation, policy: str | None = None,
                      version: int | str | None = None) -> ProbabilitiesResponse:
        body = self._body(observation=observation, policy=policy, version=version)
        return ProbabilitiesResponse.model_validate(self._call("POST", "/policy", json=body))

    def probabilities_batch(self, observations: list[Observation], policy: str | None = None,
                            version: int | str | None = None) -> ProbabilitiesResponse:
        body = self._body(observations=list(observations), policy=policy, version=version)
        return ProbabilitiesResponse.model_validate(self._call("POST", "/policy", json=body))

    def policy_table(self, policy: str | None = None) -> PolicyTableResponse:
        params = self._body(policy=policy)
        return PolicyTableResponse.model_validate(self._call("GET", "/policy", params=params))

    def models(self) -> ModelsResponse:
        return ModelsResponse.model_validate(self._call("GET", "/models"))

    def model(self, policy: str) -> PolicyStatus:
        return PolicyStatus.model_validate(self._call("GET", f"/models/{policy}"))


def _served_version(client: PolicyClient, policy: str | None):
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


def play(client: PolicyClient, episodes: int, policy: str | None, mode: Mode, seed: int,
         use_action_mask: bool = False) -> dict:
    """Returns the mean return (and success rate) of `episodes` games of the policy's own
    environment, every action asked of the service.

    All games are stepped together, and each step asks for every game's action in one
    batched request, so a thousand games take seconds rather than minutes.
    """
    import gymnasium as gym

    policy, served = _served_version(client, policy)
    env_spec = served.env
    make_kwargs = dict(env_spec["kwargs"])
    if env_spec.get("max_episode_steps"):
        make_kwargs["max_episode_steps"] = env_spec["max_episode_steps"]
    envs = [gym.make(env_spec["id"], **make_kwargs) for _ in range(episodes)]
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
            observations[i], reward, terminated, truncated, infos[i] = envs[i].step(action)
            returns[i] += float(reward)
            if terminated or truncated:
                reached_goal[i] = bool(terminated and reward > 0)
            else:
                still_active.append(i)
        active, step = still_active, step + 1
    mean = sum(returns) / episodes
    spread = math.sqrt(sum((r - mean) ** 2 for r in returns) / max(episodes - 1, 1) / episodes)
    evaluation = served.evaluation or {}
    rate = sum(reached_goal) / episodes
    return {"policy": policy, "versions": sorted(versions), "episodes": episodes, "env": env_spec["id"],
            "mean_return": mean, "standard_error": spread,
            "success_rate": rate, "success_standard_error": math.sqrt(rate * (1 - rate) / episodes),
            "manifest_metric": evaluation.get("metric"), "manifest_value": evaluation.get("value"),
            "exact_success_rate": evaluation.get("success_rate")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.client")
    commands = parser.add_subparsers(dest="command", required=True)
    play_parser = commands.add_parser(
        "play", help="Play episodes of the policy's own environment, asking the service for every action.")
    play_parser.add_argument("--url", default="http://127.0.0.1:8000")
    play_parser.add_argument("--episodes", type=int, default=1000)
    play_parser.add_argument("--policy", help="Policy name (default: the server's default).")
    play_parser.add_argument("--mode", choices=["greedy", "sample"], default="greedy",
                             help="greedy matches the manifest's exact figure, which is for the greedy policy.")
    play_parser.add_argument("--seed", type=int, default=0)
    play_parser.add_argument("--use-action-mask", action="store_true",
                             help="Send the env's info['action_mask'] (Taxi has one) with every request.")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    try:
        result = play(PolicyClient(args.url), args.episodes, args.policy, args.mode, args.seed, args.use_action_mask)
    except (PolicyServiceError, requests.ConnectionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    line = (f"{result['policy']} v{','.join(map(str, result['versions']))} on {result['env']}: "
            f"{result['episodes']} episodes, mean return {result['mean_return']:.3f} "
            f"± {result['standard_error']:.3f} (played, {args.mode})")
    if result["exact_success_rate"] is not None:
        line += (f"; success {result['success_rate']:.3f} ± {result['success_standard_error']:.3f}, "
                 f"exact greedy success from the manifest {result['exact_success_rate']:.3f}")
    elif result["manifest_value"] is not None:
        line += f"; the manifest's {result['manifest_metric']}: {result['manifest_value']:.3f}"
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
