"""The actor's loss, as a Keras loss function, so Keras computes the policy gradient.

As in the seed notebook, `y_true` carries what the loss needs that is not a label: column
0 is the action taken, column 1 its advantage. Everything is a `keras.ops` call, so the
loss traces into the compiled graph (no numpy, no `run_eagerly`).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

# Probabilities are clipped away from 0 so log() stays finite once the policy is sure.
_MIN_PROBABILITY = 1e-8


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
