"""FrozenLake: which lake the user asked for, turned into a tabular task.

A `LakeSpec` is what the user asked for (named map, custom rows or a random map) turned
into the exact `gymnasium.make` arguments that rebuild it, so the manifest can record it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gymnasium.envs.toy_text.frozen_lake import MAPS, generate_random_map

from trainer.config import Hyperparameters
from trainer.tasks import TaskError
from trainer.tasks.tabular import TabularTask

ENV_ID = "FrozenLake-v1"
ACTION_NAMES = ("LEFT", "DOWN", "RIGHT", "UP")
LEGEND = {"S": "start", "F": "frozen", "H": "hole", "G": "goal"}
# gymnasium registers FrozenLake-v1 with 100 steps; its 8x8 documentation and registry
# use 200 for 8x8, and `map_name="8x8"` alone would silently keep 100.
STEP_LIMIT_BY_SIZE = {4: 100, 8: 200}
TILES = frozenset(LEGEND)
MAX_RANDOM_MAP_SIZE = 64
MAX_MAP_SEED = 2**31 - 1


class LakeError(TaskError):
    """The requested lake cannot be built or cannot be solved."""


@dataclass(frozen=True)
class LakeSpec:
    desc: tuple[str, ...]
    is_slippery: bool
    max_episode_steps: int
    map_name: str | None = None

    @classmethod
    def create(
        cls,
        map_name: str | None = None,
        desc: str | None = None,
        random_map: int | None = None,
        map_seed: int | None = None,
        is_slippery: bool = False,
        max_episode_steps: int | None = None,
    ) -> "LakeSpec":
        """Returns the spec for a named map (default 4x4), comma-separated custom rows, or a random map."""
        chosen = [flag for flag, value in (("--map", map_name), ("--desc", desc), ("--random-map", random_map))
                  if value is not None]
        if len(chosen) > 1:
            raise LakeError(f"choose one of {', '.join(chosen)}")
        if map_seed is not None and random_map is None:
            raise LakeError("--map-seed needs --random-map")
        if desc is not None:
            rows, map_name = tuple(row.strip() for row in desc.split(",")), None
        elif random_map is not None:
            if not 2 <= random_map <= MAX_RANDOM_MAP_SIZE:
                raise LakeError(f"--random-map must be between 2 and {MAX_RANDOM_MAP_SIZE}, got {random_map}")
            if map_seed is not None and not 0 <= map_seed <= MAX_MAP_SEED:
                raise LakeError(f"--map-seed must be between 0 and {MAX_MAP_SEED}, got {map_seed}")
            rows = tuple(generate_random_map(size=random_map, seed=map_seed))
        else:
            map_name = map_name or "4x4"
            if map_name not in MAPS:
                raise LakeError(f"unknown map {map_name!r}: choose one of {', '.join(MAPS)}")
            rows = tuple(MAPS[map_name])
        validate_rows(rows)
        if max_episode_steps is None:
            size = max(len(rows), len(rows[0]))
            max_episode_steps = STEP_LIMIT_BY_SIZE.get(size, 4 * size * size)
        if max_episode_steps < 1:
            raise LakeError(f"max_episode_steps must be positive, got {max_episode_steps}")
        return cls(rows, is_slippery, max_episode_steps, map_name)

    @property
    def default_policy_name(self) -> str:
        """Returns a name that says what the lake is, e.g. 'frozenlake-8x8-slippery'."""
        if self.map_name:
            shape = self.map_name
        else:
            shape = f"{len(self.desc)}x{len(self.desc[0])}-custom"
        return f"frozenlake-{shape}" + ("-slippery" if self.is_slippery else "")

    @property
    def make_kwargs(self) -> dict:
        """Returns the keyword arguments that, with the step limit, make `gymnasium.make(ENV_ID, ...)` this lake."""
        where = {"map_name": self.map_name} if self.map_name else {"desc": list(self.desc)}
        return {**where, "is_slippery": self.is_slippery}

    def task(self) -> TabularTask:
        """Returns this lake as a tabular task: success rate is its metric, reaching 'G' its goal."""
        return TabularTask(
            env_id=ENV_ID, env_kwargs=self.make_kwargs, max_episode_steps=self.max_episode_steps,
            default_policy_name=self.default_policy_name, action_names=ACTION_NAMES,
            metric="success_rate", goal="positive_reward", hyperparameters=Hyperparameters(),
            layout={"rows": list(self.desc), "legend": LEGEND, "terminal": "HG"},
        )


def frozen_lake_task(**options) -> TabularTask:
    """Returns the FrozenLake task for `LakeSpec.create`'s options."""
    return LakeSpec.create(**options).task()


def validate_rows(rows: tuple[str, ...]) -> None:
    """Raises LakeError unless the rows form a rectangle with one start and at least one goal."""
    if not rows or not rows[0]:
        raise LakeError("the map is empty")
    if len(rows) > MAX_RANDOM_MAP_SIZE or len(rows[0]) > MAX_RANDOM_MAP_SIZE:
        raise LakeError(f"a map has at most {MAX_RANDOM_MAP_SIZE} rows and columns")
    if any(len(row) != len(rows[0]) for row in rows):
        raise LakeError("every row of the map must have the same length")
    bad = set("".join(rows)) - TILES
    if bad:
        raise LakeError(f"unknown tiles {''.join(sorted(bad))!r}: use S, F, H, G")
    text = "".join(rows)
    if text.count("S") != 1:
        raise LakeError(f"the map needs exactly one start 'S', found {text.count('S')}")
    if "G" not in text:
        raise LakeError("the map needs a goal 'G'")
