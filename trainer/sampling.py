"""Sampling one category per row, used for actions and for stochastic transitions alike."""

from __future__ import annotations

import numpy as np


def sample_categorical(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Returns one index per row of `probabilities` (rows sum to 1), by inverse CDF.

    The clip guards against float round-off leaving a row's last cumulative value just
    under 1, which would otherwise return one past the last index.
    """
    cumulative = np.cumsum(probabilities, axis=1)
    draws = rng.random(len(probabilities))[:, None]
    return np.minimum((draws >= cumulative).sum(axis=1), probabilities.shape[1] - 1)
