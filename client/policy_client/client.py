"""The policy server's HTTP API as Python methods.

    from policy_client import PolicyClient
    client = PolicyClient("http://127.0.0.1:8000")
    client.act(0, mode="greedy").action

Needs only requests and pydantic. Results are the server's own pydantic models
(`policy_client.schemas`); connection errors and 503s are retried with exponential backoff
(urllib3's `Retry`, honouring `Retry-After`); any other error raises `PolicyServiceError`
carrying the server's JSON error.
"""

from __future__ import annotations

from typing import Literal

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from policy_client.schemas import (
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
