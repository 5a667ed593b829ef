"""The actor's loss, as a Keras loss function, so Keras computes the policy gradient.

As in the seed notebook, `y_true` carries what the loss needs that is not a label: column
0 is the action taken, column 1 its advantage. Everything is a `keras.ops` call, so the
loss traces into the compiled graph (no numpy, no `run_eagerly`).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from trainer.distributions import LOG_STD_MAX, LOG_STD_MIN

# Probabilities are clipped away from 0 so log() stays finite once the policy is sure.
_MIN_PROBABILITY = 1e-8
_HALF_LOG_2PI = 0.5 * float(np.log(2.0 * np.pi))


def pack_targets(actions, advantages):
    """Returns y_true for the actor: (batch, 2) float32 of [action, advantage]."""
    return np.stack([np.asarray(actions, np.float32), np.asarray(advantages, np.float32)], axis=1)


@keras.saving.register_keras_serializable(package="a2c")
class ActorLoss(keras.losses.Loss):
    """Policy-gradient loss with an entropy bonus (Mnih et al. 2016, A3C):

    loss = -log pi(a|s) * A(s, a) - entropy_coef * H(pi(.|s))

    The first term raises the probability of actions that did better than the critic
    expected; the second keeps the policy from collapsing before it has explored.
    """

    def __init__(self, entropy_coef: float = 0.01, name: str = "actor_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        # A variable, not a Python float, so a schedule can change it without retracing.
        self.entropy_coef = keras.Variable(entropy_coef, trainable=False, dtype="float32")

    def call(self, y_true, y_pred):
        actions = ops.cast(y_true[:, 0], "int32")
        advantages = y_true[:, 1]
        probabilities = ops.clip(y_pred, _MIN_PROBABILITY, 1.0)
        log_probabilities = ops.log(probabilities)
        taken = ops.one_hot(actions, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        log_probability_taken = ops.sum(taken * log_probabilities, axis=-1)
        entropy = -ops.sum(probabilities * log_probabilities, axis=-1)
        return -log_probability_taken * advantages - self.entropy_coef * entropy

    def get_config(self):
        return {**super().get_config(), "entropy_coef": float(self.entropy_coef.numpy())}


@keras.saving.register_keras_serializable(package="a2c")
class GaussianActorLoss(keras.losses.Loss):
    """The same policy-gradient loss for a diagonal Gaussian over Box actions:

    loss = -log N(a | mean(s), std(s)) * A(s, a) - entropy_coef * H(N(mean(s), std(s)))

    y_pred is the actor's [mean | log_std]; y_true is [action..., advantage], where the
    action is the unclipped sample the rollout drew (what the environment got was clipped).
    """

    def __init__(self, action_size: int, entropy_coef: float = 0.0, name: str = "gaussian_actor_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.action_size = action_size
        self.entropy_coef = keras.Variable(entropy_coef, trainable=False, dtype="float32")

    def mean_and_log_std(self, y_pred):
        """Returns each row's Gaussian from the actor's outputs: here `[mean | log_std]`."""
        return y_pred[:, :self.action_size], ops.clip(y_pred[:, self.action_size:], LOG_STD_MIN, LOG_STD_MAX)

    def call(self, y_true, y_pred):
        size = self.action_size
        actions, advantages = y_true[:, :size], y_true[:, size]
        mean, log_std = self.mean_and_log_std(y_pred)
        z = (actions - mean) * ops.exp(-log_std)
        log_probability = ops.sum(-0.5 * z * z - log_std - _HALF_LOG_2PI, axis=-1)
        entropy = ops.sum(log_std + _HALF_LOG_2PI + 0.5, axis=-1)
        return -log_probability * advantages - self.entropy_coef * entropy

    def get_config(self):
        return {**super().get_config(), "action_size": self.action_size,
                "entropy_coef": float(self.entropy_coef.numpy())}


# gSDE's variance floor (SB3's epsilon): a state whose latent features are all 0 keeps a finite log-probability.
NOISE_VARIANCE_FLOOR = 1e-6


def state_dependent_log_std(outputs, action_size: int, stop_features=True):
    """Returns (mean, log_std) from a gSDE actor's [mean | log_std matrix | latent] outputs:
    std_j(s)^2 = sum_i latent_i(s)^2 x exp(log_std_ij)^2 (+ a floor), the variance of
    latent(s) @ W with W_ij ~ N(0, exp(log_std_ij)^2): gSDE's noise at that state (SB3's full_std).

    The numpy twin for rollouts is `trainer.distributions.StateDependentNoise.mean_and_std`.
    With `stop_features`, the features get no gradient from the noise (SB3's default,
    learn_features=False)."""
    latent = (outputs.shape[-1] - action_size) // (action_size + 1)  # static: the model's output width
    mean = outputs[:, :action_size]
    log_std_matrix = ops.reshape(outputs[:, action_size:action_size + latent * action_size], (-1, latent, action_size))
    features = outputs[:, action_size + latent * action_size:]
    if stop_features:
        features = ops.stop_gradient(features)
    variance = ops.sum(ops.square(features)[:, :, None] * ops.exp(2.0 * log_std_matrix), axis=1)
    return mean, 0.5 * ops.log(variance + NOISE_VARIANCE_FLOOR)


@keras.saving.register_keras_serializable(package="a2c")
class StateDependentNoiseLoss(GaussianActorLoss):
    """The Gaussian policy-gradient loss for a gSDE actor: `GaussianActorLoss`'s terms, with
    each state's standard deviation computed from the noise matrix's log std and the
    state's latent features (`state_dependent_log_std`). y_true is [action..., advantage],
    as for every Gaussian actor."""

    def __init__(self, action_size: int, entropy_coef: float = 0.0, name: str = "state_dependent_noise_loss",
                 **kwargs):
        super().__init__(action_size=action_size, entropy_coef=entropy_coef, name=name, **kwargs)

    def mean_and_log_std(self, y_pred):
        return state_dependent_log_std(y_pred, self.action_size)
