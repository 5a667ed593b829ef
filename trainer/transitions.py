"""A tabular environment's dynamics as arrays, read from gymnasium's own `env.unwrapped.P`.

Every gymnasium toy-text environment steps by sampling `P[s][a]`
and resets by sampling `initial_state_distrib`, so these arrays are the environment:
the vector environment steps them and the exact evaluation propagates through them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import gymnasium as gym
import numpy as np

# What counts as reaching the goal: an env that pays a positive reward only there, or one
# that ends an episode only there (Taxi's right drop-off, CliffWalking's far corner).
Goal = Literal["positive_reward", "termination"] | None


@dataclass(frozen=True)
class TransitionTable:
    """For state s and action a, outcome k happens with `probs[s, a, k]`, leads to
    `next_states[s, a, k]`, pays `rewards[s, a, k]` and ends the episode if
    `terminates[s, a, k]`; `reaches_goal[s, a, k]` marks outcomes that count as success.
    Rows are padded with zero-probability outcomes. Episodes start in state s with
    probability `initial[s]`.
    """

    probs: np.ndarray
    next_states: np.ndarray
    rewards: np.ndarray
    terminates: np.ndarray
    reaches_goal: np.ndarray
    initial: np.ndarray

    @property
    def n_states(self) -> int:
        return self.probs.shape[0]

    @property
    def n_actions(self) -> int:
        return self.probs.shape[1]

    @property
    def has_goal(self) -> bool:
        return bool(self.reaches_goal.any())

    @classmethod
    def from_env(cls, env: gym.Env, goal: Goal = None) -> "TransitionTable":
        """Returns the table of `env.unwrapped.P` and its initial-state distribution."""
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
        if goal == "positive_reward":
            reaches_goal = (rewards > 0) & (probs > 0)
        elif goal == "termination":
            reaches_goal = terminates & (probs > 0)
        else:
            reaches_goal = np.zeros(shape, dtype=bool)
        initial = np.asarray(base.initial_state_distrib, dtype=np.float64)
        return cls(probs, next_states, rewards, terminates, reaches_goal, initial / initial.sum())
