"""The manifest that describes one published policy version, as pydantic models.

The same model validates what the trainer writes and what the service reads, so a
manifest that one side accepts the other side accepts too. Schema version 2 describes
any gymnasium environment with a discrete action space: the observation space is
`discrete {n}` or `box {shape, dtype, low, high}`; a grid world may add a `layout`.
Version-1 manifests (FrozenLake only, written before version 2) are still read: they are
upgraded in memory by `parse_manifest`, so everything downstream sees one shape.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 2
SUPPORTED_SCHEMA_VERSIONS = (1, 2)
ACTOR_FILE = "actor.keras"
CRITIC_FILE = "critic.keras"
MANIFEST_FILE = "manifest.json"
MODEL_FILES = (ACTOR_FILE, CRITIC_FILE)
# The serving form of a Box-observation policy: each model as ONNX (policy_artifacts.network),
# published beside the .keras files and hashed in `files` like them.
ACTOR_ONNX_FILE = "actor.onnx"
CRITIC_ONNX_FILE = "critic.onnx"
SERVING_FILES = {ACTOR_FILE: ACTOR_ONNX_FILE, CRITIC_FILE: CRITIC_ONNX_FILE}

# Bounds that keep a hostile manifest small in every process that holds it.
MAX_ACTIONS = 1024
MAX_NAME_CHARS = 64
MAX_OBSERVATION_ELEMENTS = 4096
MAX_CURVE_POINTS = 10_000
MAX_GRID_ROWS = 256


class _Strict(BaseModel):
    # Unknown keys are errors: a manifest from a future schema must not half-load.
    # NaN and infinities are refused: JSON has none, and a bound of NaN checks nothing.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DiscreteSpace(_Strict):
    """`gymnasium.spaces.Discrete(n)` with start 0: observations or actions 0..n-1."""

    kind: Literal["discrete"] = "discrete"
    n: int = Field(gt=0, le=10_000_000)


class BoxSpace(_Strict):
    """`gymnasium.spaces.Box`: real vectors of `shape`; bounds flattened in C order, null = unbounded."""

    kind: Literal["box"] = "box"
    shape: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=4)
    dtype: Literal["float32", "float64"]
    low: list[float | None]
    high: list[float | None]

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @model_validator(mode="after")
    def _bounds_fit_shape(self):
        if self.size > MAX_OBSERVATION_ELEMENTS:
            raise ValueError(f"at most {MAX_OBSERVATION_ELEMENTS} observation elements, shape gives {self.size}")
        if len(self.low) != self.size or len(self.high) != self.size:
            raise ValueError(f"low and high need {self.size} entries each (one per element of shape {self.shape})")
        for low, high in zip(self.low, self.high):
            if low is not None and high is not None and low > high:
                raise ValueError(f"a low bound ({low}) is above its high bound ({high})")
        return self


ObservationSpace = Annotated[DiscreteSpace | BoxSpace, Field(discriminator="kind")]


def parse_observation_space(fields: dict) -> DiscreteSpace | BoxSpace:
    """Returns the observation space a manifest's `observation_space` fields describe."""
    return BoxSpace.model_validate(fields) if fields.get("kind") == "box" else DiscreteSpace.model_validate(fields)


class EnvSpec(_Strict):
    """How to rebuild the environment: `gymnasium.make(id, max_episode_steps=..., **kwargs)`."""

    id: str = Field(min_length=1, max_length=128)
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments given to gymnasium.make.")
    max_episode_steps: int | None = Field(None, ge=1, description="The step limit trained and evaluated with.")


class GridLayout(_Strict):
    """A grid world's map: one character per cell, state = row * width + column."""

    rows: list[Annotated[str, Field(min_length=1, max_length=MAX_GRID_ROWS)]] = Field(
        min_length=1, max_length=MAX_GRID_ROWS
    )
    legend: dict[str, str] = Field(default_factory=dict, description="Character -> what the cell is.")
    terminal: str = Field("", max_length=64, description="Characters of cells where an episode ends.")

    @property
    def n_cells(self) -> int:
        return len(self.rows) * len(self.rows[0])

    @model_validator(mode="after")
    def _rectangular(self):
        if len({len(row) for row in self.rows}) != 1:
            raise ValueError("layout rows must all have the same length")
        return self


class TrainingRecord(_Strict):
    seconds: float = Field(ge=0)
    env_steps: int = Field(ge=0)
    updates: int = Field(ge=0)
    stopped_because: str = Field(max_length=64, description="'target', 'budget' or 'interrupted'.")
    curve: list[tuple[int, float]] = Field(
        default_factory=list, max_length=MAX_CURVE_POINTS,
        description="(env_steps, the evaluation metric of the greedy policy) at each evaluation.",
    )


class Evaluation(_Strict):
    """How good the policy is, by the measure that fits its environment."""

    metric: Literal["success_rate", "expected_return", "mean_return"] = Field(
        description="success_rate / expected_return: exact, through the transition table; "
        "mean_return: Monte Carlo over `episodes` seeded episodes."
    )
    value: float = Field(description="The greedy policy's figure.")
    sampled_value: float | None = Field(None, description="The same for actions sampled from the policy.")
    best: float | None = Field(
        None, description="The optimum (value iteration) for exact metrics; the env's reward_threshold otherwise."
    )
    method: str = Field(max_length=256)
    stderr: float | None = Field(None, ge=0, description="Standard error of a Monte Carlo mean.")
    episodes: int | None = Field(None, ge=1)
    success_rate: float | None = Field(None, ge=0, le=1, description="Greedy chance of reaching the goal, where there is one.")


class Manifest(_Strict):
    schema_version: Literal[2] = SCHEMA_VERSION
    policy: str
    version: int = Field(ge=1)
    created_at: str = Field(max_length=64)
    env: EnvSpec
    observation_space: ObservationSpace
    action_space: DiscreteSpace
    action_names: list[Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]] = Field(max_length=MAX_ACTIONS)
    layout: GridLayout | None = None
    hyperparameters: dict[str, Any]
    seed: int | None
    training: TrainingRecord
    evaluation: Evaluation
    files: dict[str, str] = Field(description="File name -> sha256 hex digest.")
    libraries: dict[str, str]

    @model_validator(mode="after")
    def _fields_agree(self):
        if self.action_space.n > MAX_ACTIONS:
            raise ValueError(f"at most {MAX_ACTIONS} actions are supported, got {self.action_space.n}")
        if len(self.action_names) != self.action_space.n:
            raise ValueError(
                f"action_names has {len(self.action_names)} names for {self.action_space.n} actions"
            )
        if self.layout is not None:
            if not isinstance(self.observation_space, DiscreteSpace):
                raise ValueError("a grid layout needs a discrete observation space")
            if self.layout.n_cells != self.observation_space.n:
                raise ValueError(
                    f"layout has {self.layout.n_cells} cells for {self.observation_space.n} observations"
                )
        return self


# ---- version 1: FrozenLake only, read for artifacts published before version 2 --------------

FROZENLAKE_LEGEND = {"S": "start", "F": "frozen", "H": "hole", "G": "goal"}


class _EnvSpecV1(_Strict):
    id: str = "FrozenLake-v1"
    kwargs: dict[str, Any]
    desc: list[str] = Field(min_length=1, max_length=MAX_GRID_ROWS)


class _DiscreteSpaceV1(_Strict):
    n: int = Field(gt=0, le=10_000_000)


class _EvaluationV1(_Strict):
    success_rate: float = Field(ge=0, le=1)
    sampled_success_rate: float | None = Field(None, ge=0, le=1)
    optimal_success_rate: float = Field(ge=0, le=1)
    method: str = Field(max_length=256)


class _ManifestV1(_Strict):
    schema_version: Literal[1]
    policy: str
    version: int = Field(ge=1)
    created_at: str = Field(max_length=64)
    env: _EnvSpecV1
    observation_space: _DiscreteSpaceV1
    action_space: _DiscreteSpaceV1
    action_names: list[Annotated[str, Field(max_length=MAX_NAME_CHARS)]] = Field(max_length=MAX_ACTIONS)
    hyperparameters: dict[str, Any]
    seed: int | None
    training: TrainingRecord
    evaluation: _EvaluationV1
    files: dict[str, str]
    libraries: dict[str, str]

    def upgrade(self) -> Manifest:
        """Returns the same version described in schema 2 (validated again, so it must agree)."""
        kwargs = dict(self.env.kwargs)
        steps = kwargs.pop("max_episode_steps", None)
        return Manifest.model_validate({
            "policy": self.policy, "version": self.version, "created_at": self.created_at,
            "env": {"id": self.env.id, "kwargs": kwargs, "max_episode_steps": steps},
            "observation_space": {"kind": "discrete", "n": self.observation_space.n},
            "action_space": {"kind": "discrete", "n": self.action_space.n},
            "action_names": self.action_names,
            "layout": {"rows": self.env.desc, "legend": FROZENLAKE_LEGEND, "terminal": "HG"},
            "hyperparameters": self.hyperparameters, "seed": self.seed,
            "training": self.training.model_dump(),
            "evaluation": {
                "metric": "success_rate", "value": self.evaluation.success_rate,
                "sampled_value": self.evaluation.sampled_success_rate,
                "best": self.evaluation.optimal_success_rate, "method": self.evaluation.method,
                "success_rate": self.evaluation.success_rate,
            },
            "files": self.files, "libraries": self.libraries,
        })


def parse_manifest(document: Any) -> Manifest:
    """Returns the schema-2 manifest of a parsed manifest.json, upgrading version 1.

    Raises ValueError for an unsupported schema_version and pydantic's ValidationError for
    anything else that is wrong.
    """
    schema = document.get("schema_version") if isinstance(document, dict) else None
    if schema == 1:
        return _ManifestV1.model_validate(document).upgrade()
    if schema == SCHEMA_VERSION:
        return Manifest.model_validate(document)
    raise ValueError(f"schema_version {schema!r} is not supported (supported: {SUPPORTED_SCHEMA_VERSIONS})")
