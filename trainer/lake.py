"""FrozenLake specifications: which lake, how gymnasium builds it, and its transition table.

A `LakeSpec` is what the user asked for (named map, custom rows or a random map) turned
into the exact `gymnasium.make` arguments that rebuild it, so the manifest can record it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import gymnasium as gym
import numpy as np
from gymnasium.envs.toy_text.frozen_lake import MAPS, generate_random_map

ENV_ID = "FrozenLake-v1"
ACTION_NAMES = ("LEFT", "DOWN", "RIGHT", "UP")
# gymnasium registers FrozenLake-v1 with 100 steps; its 8x8 documentation and registry
# use 200 for 8x8, and `map_name="8x8"` alone would silently keep 100.
STEP_LIMIT_BY_SIZE = {4: 100, 8: 200}
TILES = frozenset("SFHG")


class LakeError(ValueError):
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
        map_name: str | None = "4x4",
        desc: str | None = None,
        random_map: int | None = None,
        map_seed: int | None = None,
        is_slippery: bool = False,
        max_episode_steps: int | None = None,
    ) -> "LakeSpec":
        """Returns the spec for a named map, comma-separated custom rows, or a random map."""
        if desc:
            rows, map_name = tuple(row.strip() for row in desc.split(",")), None
        elif random_map:
            if not 2 <= random_map <= 64:
                raise LakeError(f"--random-map must be between 2 and 64, got {random_map}")
            rows = tuple(generate_random_map(size=random_map, seed=map_seed))
            map_name = None
        elif map_name in MAPS:
            rows = tuple(MAPS[map_name])
        else:
            raise LakeError(f"unknown map {map_name!r}: choose one of {', '.join(MAPS)}")
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
        """Returns the keyword arguments that make `gymnasium.make(ENV_ID, **kwargs)` this lake."""
        where = {"map_name": self.map_name} if self.map_name else {"desc": list(self.desc)}
        return {**where, "is_slippery": self.is_slippery, "max_episode_steps": self.max_episode_steps}

    def make_env(self) -> gym.Env:
        return gym.make(ENV_ID, **self.make_kwargs)

    @cached_property
    def table(self) -> "TransitionTable":
        return TransitionTable.from_env(self.make_env())


def validate_rows(rows: tuple[str, ...]) -> None:
    """Raises LakeError unless the rows form a rectangle with one start and at least one goal."""
    if not rows or not rows[0]:
        raise LakeError("the map is empty")
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


@dataclass(frozen=True)
class TransitionTable:
    """The lake's dynamics as arrays, read from gymnasium's own `env.unwrapped.P`.

    For state s and action a, outcome k happens with `probs[s, a, k]`, leads to
    `next_states[s, a, k]`, pays `rewards[s, a, k]` and ends the episode if
    `terminates[s, a, k]`. Rows are padded with zero-probability outcomes.
    """

    probs: np.ndarray
    next_states: np.ndarray
    rewards: np.ndarray
    terminates: np.ndarray
    start_state: int
    terminal_states: np.ndarray  # bool (n_states,): holes and goals

    @property
    def n_states(self) -> int:
        return self.probs.shape[0]

    @property
    def n_actions(self) -> int:
        return self.probs.shape[1]

    @classmethod
    def from_env(cls, env: gym.Env) -> "TransitionTable":
        base = env.unwrapped
        n_states, n_actions = int(base.observation_space.n), int(base.action_space.n)
        width = max(len(base.P[s][a]) for s in range(n_states) for a in range(n_actions))
        shape = (n_states, n_actions, width)
        probs, rewards = np.zeros(shape), np.zeros(shape)
        next_states = np.zeros(shape, dtype=np.int64)
        terminates = np.zeros(shape, dtype=bool)
        for s in range(n_states):
            for a in range(n_actions):
                for k, (p, s_next, r, done) in enumerate(base.P[s][a]):
                    probs[s, a, k], next_states[s, a, k] = p, s_next
                    rewards[s, a, k], terminates[s, a, k] = r, done
        tiles = np.asarray(base.desc).astype(str).ravel()
        start = int(np.flatnonzero(tiles == "S")[0])
        return cls(probs, next_states, rewards, terminates, start, np.isin(tiles, ["H", "G"]))
