"""Request and response bodies of the policy server's HTTP API, as pydantic models.

One definition on both sides of the wire: the server validates requests and builds its
answers with these, the client parses the answers with them. Requests are strict (an
observation is a JSON integer: not 1.0, not "1", not true) and refuse unknown fields, so a
typo is an error rather than a silently ignored option.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from policy_client.names import LABEL_PATTERN, POLICY_NAME_PATTERN


class VersionState(str, enum.Enum):
    """Where a version stands with the loader: the one set of states, on the wire and in
    the loader's hand-off alike (each protocol names them in its own words)."""

    LOADED = "loaded"  # verified and servable; a request may pin it
    FAILED = "failed"  # refused by the artifact gate; `error` says why
    REMOVED = "removed"  # gone from disk (or aged out) after it was loaded
    LOADING = "loading"  # being read and checked now, in the loader's pool


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# One observation: an integer state for a discrete space, or (nested) lists of numbers of
# the space's shape for a Box space. Which one a policy takes, and its range, is checked by
# the data plane against that policy's space, since the request does not know it yet.
Observation = StrictInt | list[Any]


class ObservationRequest(_Request):
    observation: Observation | None = Field(
        None, description="One observation: an integer state (discrete spaces) or a list of numbers of the "
        "space's shape (Box spaces)."
    )
    observations: list[Observation] | None = Field(
        None, min_length=1, description="Several observations, answered in order; for discrete spaces "
        "[s1, s2] or the (batch, 1) nesting [[s1], [s2]]."
    )
    policy: str | None = Field(None, pattern=POLICY_NAME_PATTERN, description="Policy name; default if omitted.")
    version: Annotated[int, Field(ge=1, le=2**63 - 1)] | Annotated[str, Field(pattern=LABEL_PATTERN)] | None = Field(
        None, description="A loaded version's number or label (stable, canary, latest, previous...); "
        "the served one (or the traffic split's choice) if omitted."
    )

    @model_validator(mode="after")
    def _exactly_one_form(self):
        if (self.observation is None) == (self.observations is None):
            raise ValueError("give exactly one of 'observation' or 'observations'")
        return self

    @property
    def raw_observations(self) -> list:
        return [self.observation] if self.observations is None else self.observations

    @property
    def is_batch(self) -> bool:
        return self.observations is not None


class ActRequest(ObservationRequest):
    mode: Literal["sample", "greedy"] = Field("sample", description="Sample from the policy, or take its argmax.")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="Makes a sampled answer repeatable.")
    action_mask: list[StrictInt] | list[list[StrictInt]] | None = Field(
        None, description="Allowed actions, one 0/1 per action (as Taxi's info['action_mask']); for a batch, "
        "one mask for all observations or one per observation."
    )


class _Answer(BaseModel):
    policy: str
    version: int


# A Box action: numbers nested in the action space's shape ([0.5] for shape [1]).
BoxAction = list[Any]


class ActResponse(_Answer):
    mode: Literal["sample", "greedy"]
    action: int | BoxAction | None = Field(
        None, description="An action's index (discrete actions), or numbers of the action space's shape (Box "
        "actions: the Gaussian's mean if greedy, else a sample; clipped to the bounds).")
    action_name: str | None = Field(None, description="The action's name (discrete actions only).")
    actions: list[int] | list[BoxAction] | None = None
    action_names: list[str] | None = Field(None, description="Each action's name (discrete actions only).")


class ValueResponse(_Answer):
    value: float | None = None
    values: list[float] | None = None


class ProbabilitiesResponse(_Answer):
    """The action distribution: `probabilities` for discrete actions; `mean` and `std` (each of
    the action space's shape, before clipping) for Box actions, whose `action_names` name
    the elements."""

    action_names: list[str]
    probabilities: list[float] | list[list[float]] | None = None
    mean: BoxAction | None = None
    std: BoxAction | None = None


class CellPolicy(BaseModel):
    state: int
    row: int | None = None
    col: int | None = None
    tile: str | None = None
    probabilities: list[float]
    greedy_action: int
    greedy_action_name: str
    value: float


class PolicyTableResponse(_Answer):
    layout: dict | None = Field(
        None, description="For grid worlds, the manifest's layout: rows (one character per cell; state = row * "
        "width + column), legend (character -> what the cell is) and terminal (characters where an episode ends).")
    action_names: list[str]
    cells: list[CellPolicy]


class VersionStatus(BaseModel):
    version: int
    state: VersionState
    error: str | None = None
    created_at: str | None = None
    evaluation: dict | None = None
    training: dict | None = None
    env: dict | None = None
    observation_space: dict | None = None
    action_space: dict | None = None
    action_names: list[str] | None = None


class IgnoredEntryStatus(BaseModel):
    name: str
    reason: str


class TrafficShareStatus(BaseModel):
    version: int
    weight: float
    via: str


class PolicyStatus(BaseModel):
    name: str
    served_version: int | None
    pinned_version: int | None = None
    labels: dict[str, int] = Field(default_factory=dict, description="Label -> the loaded version it names.")
    traffic: list[TrafficShareStatus] = Field(default_factory=list, description="Split of unversioned requests.")
    notes: list[str] = Field(default_factory=list, description="Labels or splits that could not be applied.")
    versions: list[VersionStatus]
    ignored: list[IgnoredEntryStatus] = Field(default_factory=list, description="Entries that are not versions.")


class ModelsResponse(BaseModel):
    default_policy: str | None
    policies: list[PolicyStatus]


class HealthResponse(BaseModel):
    status: Literal["alive"]
    live: bool = Field(description="Always true: the Open Inference Protocol's liveness body.")


class ReadyResponse(BaseModel):
    status: Literal["ready"]
    ready: bool = Field(description="Always true here; not ready is a 503 error.")
    served: dict[str, int] = Field(description="Policy -> the version it serves.")


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str
    details: list[dict] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorDetail
