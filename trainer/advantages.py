"""Returns and advantages: pure functions of rollout arrays, shaped (steps, envs).

Generalised advantage estimation (Schulman et al. 2016). An episode that *terminated*
(it reached a terminal state) has no future, so nothing is bootstrapped past it. An episode that was
*truncated* by the step limit would have gone on, so its last step bootstraps from the
critic's value of the state it really reached; the advantage trace still stops there,
because the next row of the rollout belongs to a fresh episode.
"""

from __future__ import annotations

import numpy as np


def generalized_advantages(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns (advantages, returns), each shaped like `rewards`.

    values[t] is V(s_t); next_values[t] is V of the state step t actually reached (the
    final state of an episode that ended, not the reset state), which also bootstraps the
    last step of the rollout.
    """
    not_terminal = 1.0 - terminated.astype(np.float64)
    continues = 1.0 - (terminated | truncated).astype(np.float64)
    deltas = rewards + gamma * next_values * not_terminal - values
    advantages = np.zeros_like(deltas, dtype=np.float64)
    running = np.zeros(deltas.shape[1:], dtype=np.float64)
    for t in reversed(range(len(deltas))):
        running = deltas[t] + gamma * gae_lambda * continues[t] * running
        advantages[t] = running
    return advantages, advantages + values
