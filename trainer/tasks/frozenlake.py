"""FrozenLake-v1: its CLI flags turned into `gymnasium.make` keyword arguments, and the
lake those arguments make turned into a tabular task.

The flags (`--map`, `--desc`, `--random-map`, `--map-seed`, `--slippery`) become keyword
arguments here and nowhere else, so the rest of the trainer speaks gymnasium's terms only:
a `LakeSpec` is `gymnasium.make(ENV_ID, **kwargs)`'s lake (a named map, custom rows or a
generated random map), checked and completed, and its `make_kwargs` are what the manifest
records to rebuild it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from gymnasium.envs.toy_text.frozen_lake import MAPS, generate_random_map

from trainer.config import Hyperparameters
from trainer.tasks.base import TaskError
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
# Which lake to make is one choice: a named map or rows, never both.
_MAP_KEYWORDS = ("map_name", "desc")
# flag -> (its argparse dest, the keyword arguments it decides)
FLAGS = {
    "--map": ("map_name", _MAP_KEYWORDS),
    "--desc": ("desc", _MAP_KEYWORDS),
    "--random-map": ("random_map", _MAP_KEYWORDS),
    "--map-seed": ("map_seed", _MAP_KEYWORDS),
    "--slippery": ("is_slippery", ("is_slippery",)),
}


class LakeError(TaskError):
    """The requested lake cannot be built or cannot be solved."""


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Adds FrozenLake's own flags to the trainer's CLI, in a group of their own."""
    lake = parser.add_argument_group(ENV_ID)
    lake.add_argument("--map", dest="map_name", choices=list(MAPS), help="Named gymnasium map (default 4x4).")
    lake.add_argument("--slippery", dest="is_slippery", action="store_true",
                      help="Slippery ice: moves go sideways 2 times in 3.")
    lake.add_argument("--desc", help="Custom map as comma-separated rows, e.g. SFFF,FHFH,FFFH,HFFG.")
    lake.add_argument("--random-map", type=int, metavar="SIZE", help="Random SIZExSIZE map (gymnasium's generator).")
    lake.add_argument("--map-seed", type=int, help="Seed of the random map.")


def env_kwargs_with_flags(args: argparse.Namespace, env_id: str, env_kwargs: dict) -> dict:
    """Returns env_kwargs with the keyword arguments FrozenLake's flags in `args` ask for.

    Raises LakeError for a flag given with another env, or one that decides a keyword
    `--env-kwargs` gives too (either could be meant: neither silently wins).
    """
    given = [flag for flag, (dest, _) in FLAGS.items() if getattr(args, dest) not in (None, False)]
    if given and env_id != ENV_ID:
        raise LakeError(f"{given[0]} applies only to {ENV_ID}")
    for flag in given:
        clash = [keyword for keyword in FLAGS[flag][1] if keyword in env_kwargs]
        if clash:
            raise LakeError(f"{flag} and {clash[0]!r} in --env-kwargs both choose the lake: give one of them")
    return {**env_kwargs, **flag_kwargs(**{dest: getattr(args, dest) for dest, _ in FLAGS.values()})}


def flag_kwargs(map_name: str | None = None, desc: str | None = None, random_map: int | None = None,
                map_seed: int | None = None, is_slippery: bool = False) -> dict:
    """Returns the `gymnasium.make` keyword arguments the flags' values ask for ({} for none given)."""
    chosen = [flag for flag, value in (("--map", map_name), ("--desc", desc), ("--random-map", random_map))
              if value is not None]
    if len(chosen) > 1:
        raise LakeError(f"choose one of {', '.join(chosen)}")
    if map_seed is not None and not 0 <= map_seed <= MAX_MAP_SEED:
        raise LakeError(f"--map-seed must be between 0 and {MAX_MAP_SEED}, got {map_seed}")
    if map_seed is not None and random_map is None:
        raise LakeError("--map-seed needs --random-map")
    kwargs = {}
    if map_name is not None:
        kwargs["map_name"] = map_name
    elif desc is not None:
        kwargs["desc"] = [row.strip() for row in desc.split(",")]
    elif random_map is not None:
        if not 2 <= random_map <= MAX_RANDOM_MAP_SIZE:
            raise LakeError(f"--random-map must be between 2 and {MAX_RANDOM_MAP_SIZE}, got {random_map}")
        kwargs["desc"] = generate_random_map(size=random_map, seed=map_seed)
    if is_slippery:
        kwargs["is_slippery"] = True
    return kwargs


@dataclass(frozen=True)
class LakeSpec:
    desc: tuple[str, ...]
    is_slippery: bool
    max_episode_steps: int
    map_name: str | None = None
    other_kwargs: dict = field(default_factory=dict)  # passed on to gymnasium as given, e.g. success_rate

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
        """Returns the spec for the flags' values: a named map (default 4x4), comma-separated custom rows, or a random map."""
        return cls.from_kwargs(flag_kwargs(map_name, desc, random_map, map_seed, is_slippery), max_episode_steps)

    @classmethod
    def from_kwargs(cls, env_kwargs: dict, max_episode_steps: int | None = None) -> "LakeSpec":
        """Returns the spec of `gymnasium.make(ENV_ID, **env_kwargs)`'s lake; not slippery unless asked."""
        other = dict(env_kwargs)
        map_name, desc, is_slippery = other.pop("map_name", None), other.pop("desc", None), other.pop("is_slippery", False)
        if map_name is not None and desc is not None:
            raise LakeError("choose one of map_name, desc")
        if not isinstance(is_slippery, bool):
            raise LakeError(f"is_slippery must be true or false, got {is_slippery!r}")
        if desc is not None:
            if not isinstance(desc, list) or not all(isinstance(row, str) for row in desc):
                raise LakeError("desc must be a list of rows, each a string")
            rows = tuple(desc)
        else:
            map_name = "4x4" if map_name is None else map_name
            if map_name not in MAPS:
                raise LakeError(f"unknown map {map_name!r}: choose one of {', '.join(MAPS)}")
            rows = tuple(MAPS[map_name])
        validate_rows(rows)
        if max_episode_steps is None:
            size = max(len(rows), len(rows[0]))
            max_episode_steps = STEP_LIMIT_BY_SIZE.get(size, 4 * size * size)
        if max_episode_steps < 1:
            raise LakeError(f"max_episode_steps must be positive, got {max_episode_steps}")
        return cls(rows, is_slippery, max_episode_steps, map_name, other)

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
        return {**where, "is_slippery": self.is_slippery, **self.other_kwargs}

    def task(self) -> TabularTask:
        """Returns this lake as a tabular task: success rate is its metric, reaching 'G' its goal."""
        return TabularTask(
            env_id=ENV_ID, env_kwargs=self.make_kwargs, max_episode_steps=self.max_episode_steps,
            default_policy_name=self.default_policy_name, action_names=ACTION_NAMES,
            metric="success_rate", goal="positive_reward", hyperparameters=Hyperparameters(),
            layout={"rows": list(self.desc), "legend": LEGEND, "terminal": "HG"},
        )


def create_task(env_kwargs: dict, max_episode_steps: int | None = None) -> TabularTask:
    """Returns the task of `gymnasium.make(ENV_ID, **env_kwargs)`'s lake."""
    return LakeSpec.from_kwargs(env_kwargs, max_episode_steps).task()


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
