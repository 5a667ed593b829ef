"""A served policy version: the API's verbs answered from per-state tables, no Keras needed.

The loader turned the version's actor and critic into these tables once (every lake state
is known in advance), so answering is numpy indexing and stays fast and small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TabularPolicy:
    name: str
    version: int
    probabilities_table: np.ndarray  # (n_states, n_actions), rows sum to 1
    values_table: np.ndarray  # (n_states,)
    manifest: dict

    @property
    def n_states(self) -> int:
        return self.probabilities_table.shape[0]

    @property
    def action_names(self) -> list[str]:
        return list(self.manifest["action_names"])

    @property
    def desc(self) -> list[str]:
        return list(self.manifest["env"]["desc"])

    def act(self, states: np.ndarray, greedy: bool, rng: np.random.Generator) -> np.ndarray:
        """Returns one action per state: the argmax if greedy, else a sample from the policy."""
        probabilities = self.probabilities_table[states]
        if greedy:
            return probabilities.argmax(axis=1)
        cumulative = np.cumsum(probabilities, axis=1)
        draws = rng.random(len(states))[:, None]
        return np.minimum((draws >= cumulative).sum(axis=1), probabilities.shape[1] - 1)

    def value(self, states: np.ndarray) -> np.ndarray:
        """Returns the critic's V(s) per state."""
        return self.values_table[states]

    def probabilities(self, states: np.ndarray) -> np.ndarray:
        """Returns the action probabilities per state, (len(states), n_actions)."""
        return self.probabilities_table[states]
