"""The actor's action distribution: what its output means, how actions are drawn from it,
how they reach the environment, and which Keras loss trains it.

`Categorical` (Discrete actions): the actor outputs probabilities. `DiagonalGaussian`
(Box actions): the actor's last Dense layer outputs the mean and the log standard
deviation of each action dimension side by side, `[mean | log_std]`; the log standard
deviation is the same for every state (learned through the bias alone) and bounded to
[LOG_STD_MIN, LOG_STD_MAX]. `StateDependentNoise` (gSDE) is a training form of the
Gaussian whose noise comes from the actor's features; it publishes as a DiagonalGaussian.
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

    from trainer.config import Hyperparameters

# Bounds of a Gaussian actor's log standard deviation: below, log-probabilities of
# near-greedy actions overflow float32; above, actions are mostly clipped noise.
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
# What the manifest says of a Gaussian actor's outputs, so any reader can turn them into actions.
GAUSSIAN_FIELDS = GaussianOutputs(log_std="state_independent", log_std_bounds=(LOG_STD_MIN, LOG_STD_MAX)).model_dump()


def gaussian_entropy(std: np.ndarray) -> float:
    """Returns the mean entropy (nats) of diagonal Gaussians with these standard deviations (rows)."""
    return float((np.log(std) + 0.5 * np.log(2 * np.pi * np.e)).sum(axis=1).mean())


class ActionDistribution(Protocol):
    def for_training(self, hp: Hyperparameters) -> ActionDistribution: ...
    def new_rollout(self) -> None: ...
    def publishable(self, actor: keras.Model, outputs: np.ndarray) -> keras.Model: ...
    def sample(self, outputs: np.ndarray, rng: np.random.Generator, epsilon: float = 0.0) -> np.ndarray: ...
    def greedy(self, outputs: np.ndarray) -> np.ndarray: ...
    def to_env(self, actions: np.ndarray) -> np.ndarray: ...
    def loss(self, entropy_coef: float) -> keras.losses.Loss: ...
    def targets(self, actions: np.ndarray, advantages: np.ndarray) -> np.ndarray: ...
    def entropy(self, outputs: np.ndarray) -> float: ...


class _Stateless:
    """What a distribution without exploration state or a training-only form does."""

    def for_training(self, hp):
        """Returns the distribution to collect rollouts and train with under `hp`."""
        if hp.state_dependent_noise:
            from trainer.tasks.base import TaskError

            raise TaskError("--state-dependent-noise (gSDE) needs Box actions")
        return self

    def new_rollout(self):
        """Called before each rollout (gSDE redraws its noise matrices here)."""

    def publishable(self, actor, outputs):
        """Returns the actor as published, given its outputs on recent training observations."""
        return actor


@dataclass(frozen=True)
class Categorical(_Stateless):
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
class DiagonalGaussian(_Stateless):
    low: np.ndarray  # the action space's bounds, flattened
    high: np.ndarray

    @property
    def size(self) -> int:
        return len(self.low)

    def for_training(self, hp):
        if hp.state_dependent_noise:
            return StateDependentNoise(self, hp.sde_sample_freq)
        return self

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
        return gaussian_entropy(std)

    def loss(self, entropy_coef):
        from trainer.losses import GaussianActorLoss  # Keras loads with training, after the CLI's checks

        return GaussianActorLoss(action_size=self.size, entropy_coef=entropy_coef)

    def targets(self, actions, advantages):
        """Returns y_true: (batch, size + 1) float32 of [action..., advantage]."""
        actions = np.asarray(actions, np.float32).reshape(len(advantages), self.size)
        return np.concatenate([actions, np.asarray(advantages, np.float32)[:, None]], axis=1)


class StateDependentNoise:
    """gSDE (Raffin et al. 2022), as SB3's A2C does it with `use_sde`: exploration noise
    latent(s) @ W, with W ~ N(0, exp(log_std)^2) one matrix (latent x actions) per
    environment, redrawn before each rollout and every `sample_freq` steps (-1: only then).
    The same state gets the same noise until W is redrawn, and nearby states similar noise:
    smooth, temporally correlated exploration, which finds MountainCar's hill and
    Pendulum's swing-up where fresh noise every step jitters in place.

    A training form only. The actor's outputs are [mean | log_std matrix | latent]
    (`trainer.models.build_state_dependent_noise_actor`); each state's noise is Gaussian
    with std_j(s)^2 = sum_i latent_i(s)^2 exp(log_std_ij)^2, which is what the loss scores
    (`trainer.losses.StateDependentNoiseLoss`, the same formula). Published, the actor
    becomes a plain DiagonalGaussian one: the trained mean, and per action element the
    root mean square of std_j(s) over the last rollout's states as its state-independent
    standard deviation (`publishable`), so every reader of the format serves it.
    """

    def __init__(self, gaussian: DiagonalGaussian, sample_freq: int = -1):
        self.gaussian, self.sample_freq = gaussian, sample_freq
        self._standard_normal: np.ndarray | None = None  # (n_envs, latent, size), scaled by exp(log_std) when used
        self._steps_since_draw = 0

    @property
    def size(self) -> int:
        return self.gaussian.size

    def latent(self, outputs: np.ndarray) -> int:
        return (outputs.shape[1] - self.size) // (self.size + 1)

    def _parts(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        size, latent = self.size, self.latent(outputs)
        mean = outputs[:, :size]
        log_std = outputs[:, size:size + latent * size].reshape(-1, latent, size)
        return mean, log_std, outputs[:, size + latent * size:]

    def mean_and_std(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from trainer.losses import NOISE_VARIANCE_FLOOR

        mean, log_std, features = self._parts(np.asarray(outputs, np.float64))
        variance = (features[:, :, None] ** 2 * np.exp(2.0 * log_std)).sum(axis=1)
        return mean, np.sqrt(variance + NOISE_VARIANCE_FLOOR)

    def for_training(self, hp):
        return self

    def new_rollout(self):
        self._standard_normal = None

    def sample(self, outputs, rng, epsilon=0.0):
        mean, log_std, features = self._parts(np.asarray(outputs, np.float64))
        redraw = self.sample_freq > 0 and self._steps_since_draw >= self.sample_freq
        if self._standard_normal is None or redraw or len(self._standard_normal) != len(outputs):
            self._standard_normal = rng.standard_normal(log_std.shape)
            self._steps_since_draw = 0
        self._steps_since_draw += 1
        weights = self._standard_normal * np.exp(log_std)  # log_std is the same in every row
        return mean + np.einsum("bi,bij->bj", features, weights)

    def greedy(self, outputs):
        return outputs[:, :self.size]

    def to_env(self, actions):
        return self.gaussian.to_env(actions)

    def entropy(self, outputs):
        _, std = self.mean_and_std(outputs)
        return gaussian_entropy(std)

    def loss(self, entropy_coef):
        from trainer.losses import StateDependentNoiseLoss

        return StateDependentNoiseLoss(action_size=self.size, entropy_coef=entropy_coef)

    def targets(self, actions, advantages):
        return self.gaussian.targets(actions, advantages)

    def publishable(self, actor, outputs):
        from trainer.models import gaussian_actor_from_noise_actor

        if outputs is None:
            from trainer.tasks.base import TaskError

            raise TaskError("gSDE publishes the noise its rollouts had: the budget must allow one rollout")
        _, std = self.mean_and_std(outputs)
        log_std = np.clip(0.5 * np.log((std ** 2).mean(axis=0)), LOG_STD_MIN, LOG_STD_MAX)
        return gaussian_actor_from_noise_actor(actor, self.size, log_std)
