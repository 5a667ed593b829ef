"""Many FrozenLakes stepped together with numpy, from gymnasium's own transition table.

Same dynamics as `gymnasium.make` (tests compare them), but one vectorised step for all
environments instead of a Python call per environment: on a 2-core machine this is what
lets one rollout step cost microseconds instead of the model call it waits on.
Episodes end on termination (hole or goal) or truncation (the step limit), and reset
automatically; `final_states` holds where each ended episode really stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainer.lake import TransitionTable


@dataclass
class StepResult:
    states: np.ndarray  # observation to act on next (already reset where an episode ended)
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_states: np.ndarray  # the state reached by this step, before any reset


class VectorLake:
    def __init__(self, table: TransitionTable, n_envs: int, max_episode_steps: int, seed: int | None):
        self.table = table
        self.n_envs = n_envs
        self.max_episode_steps = max_episode_steps
        self.rng = np.random.default_rng(seed)
        self._cumulative = np.cumsum(table.probs, axis=-1)
        self.states = np.full(n_envs, table.start_state, dtype=np.int64)
        self.elapsed = np.zeros(n_envs, dtype=np.int64)
        self.episodes_finished = 0
        self.successes = 0

    def reset(self) -> np.ndarray:
        self.states[:] = self.table.start_state
        self.elapsed[:] = 0
        return self.states.copy()

    def step(self, actions: np.ndarray) -> StepResult:
        """Returns the result of taking `actions` (one per environment) in every environment."""
        cumulative = self._cumulative[self.states, actions]  # (n_envs, outcomes)
        draw = self.rng.random(self.n_envs)[:, None]
        # The first outcome whose cumulative probability exceeds the draw; clip guards
        # against float round-off leaving the last cumulative value just under 1.
        outcome = np.minimum((draw >= cumulative).sum(axis=1), cumulative.shape[1] - 1)
        index = (self.states, actions, outcome)
        final_states = self.table.next_states[index]
        rewards = self.table.rewards[index]
        terminated = self.table.terminates[index]
        self.elapsed += 1
        truncated = ~terminated & (self.elapsed >= self.max_episode_steps)
        ended = terminated | truncated
        self.episodes_finished += int(ended.sum())
        self.successes += int((rewards > 0).sum())
        self.states = np.where(ended, self.table.start_state, final_states)
        self.elapsed[ended] = 0
        return StepResult(self.states.copy(), rewards, terminated, truncated, final_states)
