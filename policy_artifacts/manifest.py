"""The manifest that describes one published policy version, as a pydantic model.

The same model validates what the trainer writes and what the service reads, so a
manifest that one side accepts the other side accepts too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
ACTOR_FILE = "actor.keras"
CRITIC_FILE = "critic.keras"
MANIFEST_FILE = "manifest.json"
MODEL_FILES = (ACTOR_FILE, CRITIC_FILE)


class _Strict(BaseModel):
    # Unknown keys are errors: a manifest from a future schema must not half-load.
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvSpec(_Strict):
    """How to rebuild the environment: `gymnasium.make(id, **kwargs)`."""

    id: str = "FrozenLake-v1"
    kwargs: dict[str, Any] = Field(description="Keyword arguments given to gymnasium.make.")
    desc: list[str] = Field(description="The lake, one string per row (S, F, H, G).")


class DiscreteSpace(_Strict):
    n: int = Field(gt=0)


class TrainingRecord(_Strict):
    seconds: float = Field(ge=0)
    env_steps: int = Field(ge=0)
    updates: int = Field(ge=0)
    stopped_because: str = Field(description="'target', 'budget' or 'interrupted'.")
    curve: list[tuple[int, float]] = Field(
        default_factory=list,
        description="(env_steps, exact greedy success rate) at each evaluation.",
    )


class Evaluation(_Strict):
    success_rate: float = Field(ge=0, le=1, description="Greedy policy (argmax per cell).")
    sampled_success_rate: float | None = Field(None, ge=0, le=1, description="Actions sampled from the policy.")
    optimal_success_rate: float = Field(ge=0, le=1)
    method: str


class Manifest(_Strict):
    schema_version: int = SCHEMA_VERSION
    policy: str
    version: int = Field(ge=1)
    created_at: str
    env: EnvSpec
    observation_space: DiscreteSpace
    action_space: DiscreteSpace
    action_names: list[str]
    hyperparameters: dict[str, Any]
    seed: int | None
    training: TrainingRecord
    evaluation: Evaluation
    files: dict[str, str] = Field(description="File name -> sha256 hex digest.")
    libraries: dict[str, str]
