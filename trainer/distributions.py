"""The actor's action distribution: what its output means, how actions are drawn from it,
how they reach the environment, and which Keras loss trains it.

`Categorical` (Discrete actions): the actor outputs probabilities. `DiagonalGaussian`
(Box actions): the actor's last Dense layer outputs the mean and the log standard
deviation of each action dimension side by side, `[mean | log_std]`, both from the
network (a state-dependent standard deviation, bounded to [LOG_STD_MIN, LOG_STD_MAX]).
A sampled action is mean + std * N(0, 1), unbounded, and is what the loss scores; the
environment receives it clipped to the space's bounds (SB3 does the same), so a mean
beyond a bound still learns from how far beyond it the samples fell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from policy_artifacts.spaces import GaussianOutputs, gaussian_mean_and_std, sample_categorical, sample_gaussian

if TYPE_CHECKING:
    import keras

# Bounds of a Gaussian actor's log standard deviation: below, log-probabilities of
# near-greedy actions overflow float32; above, actions are mostly clipped noise.
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
# What the manifest says of a Gaussian actor's outputs, so any reader can turn them into actions.
GAUSSIAN_FIELDS = GaussianOutputs(log_std="state_independent", log_std_bounds=(LOG_STD_MIN, LOG_STD_MAX)).model_dump()


class ActionDistribution(Protocol):
    def sample(self, outputs: np.ndarray, rng: np.random.Generator, epsilon: float = 0.0) -> np.ndarray: ...
    def greedy(self, outputs: np.ndarray) -> np.ndarray: ...
    def to_env(self, actions: np.ndarray) -> np.ndarray: ...
    def loss(self, entropy_coef: float) -> keras.losses.Loss: ...
    def targets(self, actions: np.ndarray, advantages: np.ndarray) -> np.ndarray: ...
    def entropy(self, outputs: np.ndarray) -> float: ...


@dataclass(frozen=True)
class Categorical:
    n_actions: int

    def sample(self, outputs, rng, epsilon=0.0):
        if epsilon:
            outputs = (1.0 - epsilon) * outputs + epsilon / outputs.shape[1]
        return sample_categorical(outputs, rng)

    def greedy(self, outputs):
        return outputs.argmax(axis=1)

    def to_env(self, actions):
        return actions

    def entropy(self, outputs):
        """Returns the mean entropy (nats) of the rows' categorical distributions."""
        p = np.clip(outputs, 1e-12, 1.0)
        return float(-(p * np.log(p)).sum(axis=1).mean())

    def loss(self, entropy_coef):
        from trainer.losses import ActorLoss  # Keras loads with training, after the CLI's checks

        return ActorLoss(entropy_coef=entropy_coef)

    def targets(self, actions, advantages):
        from trainer.losses import pack_targets

        return pack_targets(np.asarray(actions).reshape(-1), advantages)


@dataclass(frozen=True)
class DiagonalGaussian:
    low: np.ndarray  # the action space's bounds, flattened
    high: np.ndarray

    @property
    def size(self) -> int:
        return len(self.low)

    def mean_and_std(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns the mean and standard deviation from the actor's [mean | log_std] outputs."""
        return gaussian_mean_and_std(outputs, self.size, (LOG_STD_MIN, LOG_STD_MAX))

    def sample(self, outputs, rng, epsilon=0.0):  # exploration is the standard deviation's
        return sample_gaussian(*self.mean_and_std(outputs), rng)

    def greedy(self, outputs):
        return outputs[:, :self.size]

    def to_env(self, actions):
        return np.clip(actions, self.low, self.high)

    def entropy(self, outputs):
        """Returns the mean entropy (nats) of the rows' Gaussians, before clipping."""
        _, std = self.mean_and_std(outputs)
        return float((np.log(std) + 0.5 * np.log(2 * np.pi * np.e)).sum(axis=1).mean())

    def loss(self, entropy_coef):
        from trainer.losses import GaussianActorLoss  # Keras loads with training, after the CLI's checks

        return GaussianActorLoss(action_size=self.size, entropy_coef=entropy_coef)

    def targets(self, actions, advantages):
        """Returns y_true: (batch, size + 1) float32 of [action..., advantage]."""
        actions = np.asarray(actions, np.float32).reshape(len(advantages), self.size)
        return np.concatenate([actions, np.asarray(advantages, np.float32)[:, None]], axis=1)
