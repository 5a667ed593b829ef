"""Request and response bodies of the HTTP API, as pydantic models.

Importable without TensorFlow: the Python client uses the same models. Requests are
strict (an observation is a JSON integer: not 1.0, not "1", not true) and refuse unknown
fields, so a typo is an error rather than a silently ignored option.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

POLICY_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ObservationRequest(_Request):
    observation: int | None = Field(None, ge=0, description="One state (cell index).")
    observations: list[int] | None = Field(None, min_length=1, description="Several states, answered in order.")
    policy: str | None = Field(None, pattern=POLICY_NAME_PATTERN, description="Policy name; default if omitted.")
    version: int | None = Field(None, ge=1, description="Pin a loaded version; the served one if omitted.")

    @model_validator(mode="after")
    def _exactly_one_form(self):
        if (self.observation is None) == (self.observations is None):
            raise ValueError("give exactly one of 'observation' or 'observations'")
        if self.observations is not None and any(o < 0 for o in self.observations):
            raise ValueError("observations must be non-negative integers")
        return self

    @property
    def states(self) -> list[int]:
        return [self.observation] if self.observation is not None else list(self.observations)

    @property
    def is_batch(self) -> bool:
        return self.observations is not None


class ActRequest(ObservationRequest):
    mode: Literal["sample", "greedy"] = Field("sample", description="Sample from the policy, or take its argmax.")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="Makes a sampled answer repeatable.")


class _Answer(BaseModel):
    policy: str
    version: int


class ActResponse(_Answer):
    mode: Literal["sample", "greedy"]
    action: int | None = None
    action_name: str | None = None
    actions: list[int] | None = None
    action_names: list[str] | None = None


class ValueResponse(_Answer):
    value: float | None = None
    values: list[float] | None = None


class ProbabilitiesResponse(_Answer):
    action_names: list[str]
    probabilities: list[float] | list[list[float]]


class CellPolicy(BaseModel):
    state: int
    row: int
    col: int
    tile: str
    probabilities: list[float]
    greedy_action: int
    greedy_action_name: str
    value: float


class PolicyTableResponse(_Answer):
    desc: list[str]
    action_names: list[str]
    cells: list[CellPolicy]


class VersionStatus(BaseModel):
    version: int
    state: Literal["loaded", "failed", "removed"]
    error: str | None = None
    created_at: str | None = None
    evaluation: dict | None = None
    training: dict | None = None
    env: dict | None = None


class PolicyStatus(BaseModel):
    name: str
    served_version: int | None
    pinned_version: int | None = None
    versions: list[VersionStatus]


class ModelsResponse(BaseModel):
    default_policy: str | None
    policies: list[PolicyStatus]


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str
    details: list[dict] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorDetail
