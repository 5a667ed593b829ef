"""A served policy version: the API's verbs answered from per-state tables, no Keras needed.

The loader turned the version's actor and critic into these tables once (every lake state
is known in advance), so answering is numpy indexing and stays fast and small.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

_per_thread = threading.local()


def unseeded_generator() -> np.random.Generator:
    """Returns the calling thread's own generator for unseeded samples: creating one per
    request (seeding from the OS each time) cost more than the whole table lookup."""
    generator = getattr(_per_thread, "generator", None)
    if generator is None:
        generator = _per_thread.generator = np.random.default_rng()
    return generator


@dataclass(frozen=True)
class TabularPolicy:
    name: str
    version: int
    probabilities_table: np.ndarray  # (n_states, n_actions), rows sum to 1
    values_table: np.ndarray  # (n_states,)
    manifest: dict
    # Derived once per version, so a request does only indexing.
    cumulative_table: np.ndarray = field(init=False, repr=False, compare=False)
    greedy_table: np.ndarray = field(init=False, repr=False, compare=False)
    action_names: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "cumulative_table", np.cumsum(self.probabilities_table, axis=1))
        object.__setattr__(self, "greedy_table", self.probabilities_table.argmax(axis=1))
        object.__setattr__(self, "action_names", tuple(self.manifest["action_names"]))

    @property
    def n_states(self) -> int:
        return self.probabilities_table.shape[0]

    @property
    def desc(self) -> list[str]:
        return list(self.manifest["env"]["desc"])

    def act(self, states: np.ndarray, greedy: bool, rng: np.random.Generator) -> np.ndarray:
        """Returns one action per state: the argmax if greedy, else a sample from the policy."""
        if greedy:
            return self.greedy_table[states]
        draws = rng.random(len(states))[:, None]
        n_actions = self.cumulative_table.shape[1]
        return np.minimum((draws >= self.cumulative_table[states]).sum(axis=1), n_actions - 1)

    def value(self, states: np.ndarray) -> np.ndarray:
        """Returns the critic's V(s) per state."""
        return self.values_table[states]

    def probabilities(self, states: np.ndarray) -> np.ndarray:
        """Returns the action probabilities per state, (len(states), n_actions)."""
        return self.probabilities_table[states]
