"""The manifest that describes one published policy version, as pydantic models.

The same model validates what the trainer writes and what the service reads, so a
manifest that one side accepts the other side accepts too. Schema version 2 describes
any gymnasium environment: the observation space is `discrete {n}` or `box {shape, dtype,
low, high}`; the action space `discrete {n}` or, with Box observations, `box {shape, dtype,
low, high, distribution}` (a Gaussian actor's outputs); a grid world may add a `layout`.
Version-1 manifests (one environment only, written before version 2) are still read:
`policy_artifacts.schema_v1` upgrades them in memory, so everything downstream sees one
shape. The spaces and what they do live in `policy_artifacts.spaces`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from policy_artifacts import schema_v1
from policy_artifacts.spaces import ActionSpace, DiscreteSpace, ObservationSpace, StrictModel
# Re-exported: the trainer and the tests import these from the manifest module.
from policy_artifacts.spaces import BoxActionSpace, BoxSpace, parse_observation_space  # noqa: F401

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
# One rendered greedy episode (an animated GIF) for the page, where the environment renders;
# hashed in `files` like the models. Versions without one load all the same.
EPISODE_FILE = "episode.gif"
OPTIONAL_FILES = (*SERVING_FILES.values(), EPISODE_FILE)

# Bounds that keep a hostile manifest small in every process that holds it.
MAX_ACTIONS = 1024
MAX_NAME_CHARS = 64
MAX_CURVE_POINTS = 10_000
MAX_GRID_ROWS = 256


class EnvSpec(StrictModel):
    """How to rebuild the environment: `gymnasium.make(id, max_episode_steps=..., **kwargs)`."""

    id: str = Field(min_length=1, max_length=128)
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments given to gymnasium.make.")
    max_episode_steps: int | None = Field(None, ge=1, description="The step limit trained and evaluated with.")


class GridLayout(StrictModel):
    """A grid world's map: one character per cell, state = row * width + column."""

    rows: list[Annotated[str, Field(min_length=1, max_length=MAX_GRID_ROWS)]] = Field(
        min_length=1, max_length=MAX_GRID_ROWS
    )
    legend: dict[str, str] = Field(default_factory=dict, description="Character -> what the cell is.")
    terminal: str = Field("", max_length=64, description="Characters of cells where an episode ends.")

    @property
    def width(self) -> int:
        return len(self.rows[0])

    @property
    def n_cells(self) -> int:
        return len(self.rows) * self.width

    def cell(self, state: int) -> tuple[int, int, str]:
        """Returns (row, column, character) of a state's cell."""
        row, column = divmod(state, self.width)
        return row, column, self.rows[row][column]

    @model_validator(mode="after")
    def _rectangular(self):
        if len({len(row) for row in self.rows}) != 1:
            raise ValueError("layout rows must all have the same length")
        return self


class TrainingRecord(StrictModel):
    seconds: float = Field(ge=0)
    env_steps: int = Field(ge=0)
    updates: int = Field(ge=0)
    stopped_because: str = Field(max_length=64, description="'target', 'budget' or 'interrupted'.")
    curve: list[tuple[int, float]] = Field(
        default_factory=list, max_length=MAX_CURVE_POINTS,
        description="(env_steps, the evaluation metric of the greedy policy) at each evaluation.",
    )


class Evaluation(StrictModel):
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


class Manifest(StrictModel):
    schema_version: Literal[2] = SCHEMA_VERSION
    policy: str
    version: int = Field(ge=1)
    created_at: str = Field(max_length=64)
    env: EnvSpec
    observation_space: ObservationSpace
    action_space: ActionSpace
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
        if isinstance(self.action_space, DiscreteSpace):
            if self.action_space.n > MAX_ACTIONS:
                raise ValueError(f"at most {MAX_ACTIONS} actions are supported, got {self.action_space.n}")
            if len(self.action_names) != self.action_space.n:
                raise ValueError(
                    f"action_names has {len(self.action_names)} names for {self.action_space.n} actions"
                )
        elif len(self.action_names) != self.action_space.size:  # Box: one name per action element
            raise ValueError(
                f"action_names has {len(self.action_names)} names for {self.action_space.size} action elements"
            )
        if isinstance(self.action_space, BoxActionSpace) and isinstance(self.observation_space, DiscreteSpace):
            raise ValueError("Box actions need Box observations")
        if self.layout is not None:
            if not isinstance(self.observation_space, DiscreteSpace):
                raise ValueError("a grid layout needs a discrete observation space")
            if self.layout.n_cells != self.observation_space.n:
                raise ValueError(
                    f"layout has {self.layout.n_cells} cells for {self.observation_space.n} observations"
                )
        return self


def parse_manifest(document: Any) -> Manifest:
    """Returns the schema-2 manifest of a parsed manifest.json, upgrading version 1.

    Raises ValueError for an unsupported schema_version and pydantic's ValidationError for
    anything else that is wrong.
    """
    schema = document.get("schema_version") if isinstance(document, dict) else None
    if schema == 1:
        return Manifest.model_validate(schema_v1.upgraded_fields(document))
    if schema == SCHEMA_VERSION:
        return Manifest.model_validate(document)
    raise ValueError(f"schema_version {schema!r} is not supported (supported: {SUPPORTED_SCHEMA_VERSIONS})")
