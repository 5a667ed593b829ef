"""A small Python client for the policy server, and an agent that plays through it.

    from service.client import PolicyClient
    client = PolicyClient("http://127.0.0.1:8000")
    client.act(0, mode="greedy").action

    python -m service.client play --episodes 1000 --url http://127.0.0.1:8000

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

    def act(self, observation: int, mode: Mode = "sample", policy: str | None = None,
            version: int | None = None, seed: int | None = None) -> ActResponse:
        body = self._body(observation=observation, mode=mode, policy=policy, version=version, seed=seed)
        return ActResponse.model_validate(self._call("POST", "/act", json=body))

    def act_batch(self, observations: list[int], mode: Mode = "sample", policy: str | None = None,
                  version: int | None = None, seed: int | None = None) -> ActResponse:
        body = self._body(observations=list(observations), mode=mode, policy=policy, version=version, seed=seed)
        return ActResponse.model_validate(self._call("POST", "/act", json=body))

    def value(self, observation: int, policy: str | None = None, version: int | None = None) -> ValueResponse:
        body = self._body(observation=observation, policy=policy, version=version)
        return ValueResponse.model_validate(self._call("POST", "/value", json=body))

    def values(self, observations: list[int], policy: str | None = None, version: int | None = None) -> ValueResponse:
        body = self._body(observations=list(observations), policy=policy, version=version)
        return ValueResponse.model_validate(self._call("POST", "/value", json=body))

    def probabilities(self, observation: int, policy: str | None = None,
                      version: int | None = None) -> ProbabilitiesResponse:
        body = self._body(observation=observation, policy=policy, version=version)
        return ProbabilitiesResponse.model_validate(self._call("POST", "/policy", json=body))

    def probabilities_batch(self, observations: list[int], policy: str | None = None,
                            version: int | None = None) -> ProbabilitiesResponse:
        body = self._body(observations=list(observations), policy=policy, version=version)
        return ProbabilitiesResponse.model_validate(self._call("POST", "/policy", json=body))

    def policy_table(self, policy: str | None = None) -> PolicyTableResponse:
        params = self._body(policy=policy)
        return PolicyTableResponse.model_validate(self._call("GET", "/policy", params=params))

    def models(self) -> ModelsResponse:
        return ModelsResponse.model_validate(self._call("GET", "/models"))

    def model(self, policy: str) -> PolicyStatus:
        return PolicyStatus.model_validate(self._call("GET", f"/models/{policy}"))


def play(client: PolicyClient, episodes: int, policy: str | None, mode: Mode, seed: int) -> dict:
    """Returns the success rate of `episodes` FrozenLake games, every action asked of the service.

    All games are stepped together, and each step asks for every game's action in one
    batched request, so a thousand games take seconds rather than minutes.
    """
    import gymnasium as gym

    table = client.policy_table(policy)
    status = client.model(table.policy)
    served = next(v for v in status.versions if v.version == table.version)
    envs = [gym.make(served.env["id"], **served.env["kwargs"]) for _ in range(episodes)]
    states = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    active, wins, versions = list(range(episodes)), 0, set()
    step = 0
    while active:
        answer = client.act_batch([states[i] for i in active], mode=mode, policy=table.policy,
                                  seed=None if mode == "greedy" else seed + step)
        versions.add(answer.version)
        still_active = []
        for i, action in zip(active, answer.actions):
            states[i], reward, terminated, truncated, _ = envs[i].step(action)
            if terminated or truncated:
                wins += reward > 0
            else:
                still_active.append(i)
        active, step = still_active, step + 1
    rate = wins / episodes
    return {"policy": table.policy, "versions": sorted(versions), "episodes": episodes, "success_rate": rate,
            "standard_error": math.sqrt(rate * (1 - rate) / episodes),
            "exact_success_rate": served.evaluation["success_rate"] if served.evaluation else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.client")
    commands = parser.add_subparsers(dest="command", required=True)
    play_parser = commands.add_parser("play", help="Play FrozenLake episodes, asking the service for every action.")
    play_parser.add_argument("--url", default="http://127.0.0.1:8000")
    play_parser.add_argument("--episodes", type=int, default=1000)
    play_parser.add_argument("--policy", help="Policy name (default: the server's default).")
    play_parser.add_argument("--mode", choices=["greedy", "sample"], default="greedy",
                             help="greedy matches the manifest's exact figure, which is for the greedy policy.")
    play_parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    try:
        result = play(PolicyClient(args.url), args.episodes, args.policy, args.mode, args.seed)
    except (PolicyServiceError, requests.ConnectionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    exact = result["exact_success_rate"]
    print(f"{result['policy']} v{','.join(map(str, result['versions']))}: {result['episodes']} episodes, "
          f"success {result['success_rate']:.3f} ± {result['standard_error']:.3f} (played, {args.mode}); "
          f"exact greedy success from the manifest: {exact:.3f}" if exact is not None else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
