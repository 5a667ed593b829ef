"""Observation and reward normalisation: running statistics during training; the
observation statistics are folded into the models when they are published.

During training the models see (observation - mean) / std, with mean and variance kept
over every observation the training environments produced (SB3's `VecNormalize`, without
its clipping: a clip cannot be folded into a Dense layer, and serving must compute what
training did). At publishing, the statistics are frozen into the first Dense layer:

    ((x - mean) / std) @ W + b  ==  x @ (W / std) + (b - (mean / std) @ W)

so the published `.keras` files, their ONNX form and every reader of the format take raw
observations and need nothing beside the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

_VARIANCE_FLOOR = 1e-8  # a constant observation element (variance 0) is left unscaled, not divided by 0


class RunningNormalizer:
    """Mean and variance of every observation seen, merged batch by batch (Chan et al.)."""

    def __init__(self, shape: tuple[int, ...]):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 0

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, np.float64)
        if not len(batch):
            return
        batch_mean, batch_var, n = batch.mean(axis=0), batch.var(axis=0), len(batch)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        self.count = total

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.var + _VARIANCE_FLOOR)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        """Returns the observations normalised with the statistics so far."""
        return (np.asarray(observations, np.float64) - self.mean) / self.std

    def fold_into(self, model: keras.Model) -> keras.Model:
        """Returns a copy of `model` (which takes normalised observations) that takes raw ones."""
        import keras  # here, not at the top: the CLI checks its arguments before TensorFlow loads

        from trainer.models import inference_copy

        folded = inference_copy(model)
        first = next(layer for layer in folded.layers if isinstance(layer, keras.layers.Dense))
        kernel, bias = (np.asarray(w, np.float64) for w in first.get_weights())
        mean, std = self.mean.reshape(-1), self.std.reshape(-1)
        first.set_weights([(kernel / std[:, None]).astype(np.float32),
                           (bias - (mean / std) @ kernel).astype(np.float32)])
        return folded


class RewardNormalizer:
    """Divides rewards by the running standard deviation of each environment's discounted
    return (SB3's `VecNormalize(norm_reward=True)`): the critic's targets stay near unit
    scale whatever the environment pays, and no mean is subtracted, so signs keep meaning.
    Only training sees it; evaluations and the manifest report the environment's rewards.
    """

    def __init__(self, n_envs: int, gamma: float):
        self.gamma = gamma
        self.returns = np.zeros(n_envs, np.float64)
        self.statistics = RunningNormalizer(())

    def __call__(self, rewards: np.ndarray, ended: np.ndarray, acted: np.ndarray) -> np.ndarray:
        """Returns a rollout's rewards (steps, envs) scaled, updating the statistics step by step."""
        for t in range(len(rewards)):
            self.returns = np.where(acted[t], self.returns * self.gamma + rewards[t], self.returns)
            self.statistics.update(self.returns[acted[t]])
            self.returns[ended[t]] = 0.0
        return rewards / self.statistics.std
