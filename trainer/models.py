"""The actor and critic: small Keras models over discrete states or Box observations.

Discrete: raw integer states of shape (batch, 1), one-hot encoded inside the model, so a
saved model is usable on its own by any Keras user. Box: float32 observations of the
space's shape, through Dense layers only. No preprocessing layers: the service turns Box
models into ONNX, where a `Normalization` layer's constants become extra graph inputs.
"""

from __future__ import annotations

import keras
import numpy as np


def _encoded_state(n_states: int, name: str) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    state = keras.Input(shape=(1,), dtype="int32", name="state")
    one_hot = keras.layers.CategoryEncoding(
        num_tokens=n_states, output_mode="one_hot", name=f"{name}_one_hot"
    )(state)
    return state, one_hot


def _hidden(x: keras.KerasTensor, hidden_units: int, name: str) -> keras.KerasTensor:
    # With a one-hot input, no hidden layer means one free parameter per (state, output):
    # a tabular model, which learns fastest; a hidden layer shares statistics across states.
    if hidden_units:
        x = keras.layers.Dense(hidden_units, activation="relu", name=f"{name}_hidden")(x)
    return x


def build_actor(n_states: int, n_actions: int, hidden_units: int = 0) -> keras.Model:
    """Returns a model mapping states (batch, 1) to action probabilities (batch, n_actions)."""
    state, x = _encoded_state(n_states, "actor")
    x = _hidden(x, hidden_units, "actor")
    # Zero-initialised logits: the untrained policy is exactly uniform, so early rollouts
    # explore evenly instead of following an accident of the initialisation.
    probabilities = keras.layers.Dense(
        n_actions, activation="softmax", kernel_initializer="zeros", name="action_probabilities"
    )(x)
    return keras.Model(state, probabilities, name="actor")


def build_critic(n_states: int, hidden_units: int = 0) -> keras.Model:
    """Returns a model mapping states (batch, 1) to state values (batch, 1)."""
    state, x = _encoded_state(n_states, "critic")
    x = _hidden(x, hidden_units, "critic")
    value = keras.layers.Dense(1, kernel_initializer="zeros", name="value")(x)
    return keras.Model(state, value, name="critic")


def dense_initializers(initializer: str, fan_in: int) -> dict:
    """Returns a Dense layer's initialiser arguments: "glorot" (Keras' default: Glorot-uniform
    kernel, zero bias) or "fan_in_uniform" (PyTorch's default for nn.Linear: kernel and bias
    uniform within 1/sqrt(fan_in)), which SB3 uses when `ortho_init=False`, as
    rl-baselines3-zoo sets for gSDE tasks. With it, Pendulum reached -200 in 115k-260k steps
    where Glorot took 470k-640k (same seeds, same settings)."""
    if initializer == "glorot":
        return {}
    if initializer != "fan_in_uniform":
        raise ValueError(f"unknown initializer {initializer!r}")
    bound = 1.0 / float(fan_in) ** 0.5
    return dict(kernel_initializer=keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),
                bias_initializer=keras.initializers.RandomUniform(-bound, bound))


def _box_trunk(observation_shape: tuple[int, ...], hidden_units: int, hidden_layers: int, name: str,
               initializer: str = "glorot"):
    observation = keras.Input(shape=tuple(observation_shape), dtype="float32", name="observation")
    x = observation
    if len(observation_shape) > 1:
        x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    for i in range(hidden_layers if hidden_units else 0):
        # tanh, as in SB3's and CleanRL's A2C/PPO defaults for these control tasks.
        x = keras.layers.Dense(hidden_units, activation="tanh", name=f"{name}_hidden_{i}",
                               **dense_initializers(initializer, x.shape[-1]))(x)
    return observation, x


def build_box_actor(
    observation_shape: tuple[int, ...], n_actions: int, hidden_units: int = 64, hidden_layers: int = 2,
    initializer: str = "glorot",
) -> keras.Model:
    """Returns a model mapping observations (batch, *shape) to action probabilities (batch, n_actions)."""
    observation, x = _box_trunk(observation_shape, hidden_units, hidden_layers, "actor", initializer)
    # Small last-layer weights, as SB3 does (gain 0.01): the untrained policy is near uniform.
    probabilities = keras.layers.Dense(
        n_actions, activation="softmax", name="action_probabilities",
        kernel_initializer=keras.initializers.Orthogonal(gain=0.01),
    )(x)
    return keras.Model(observation, probabilities, name="actor")


@keras.saving.register_keras_serializable(package="a2c")
class KeepColumnsZero(keras.constraints.Constraint):
    """Holds a kernel's columns from `start` on at zero after every update: the outputs they
    feed then depend on the bias alone, i.e. are learned but the same for every state."""

    def __init__(self, start: int):
        self.start = start

    def __call__(self, kernel):
        keep = keras.ops.arange(keras.ops.shape(kernel)[-1]) < self.start
        return kernel * keras.ops.cast(keep, kernel.dtype)

    def get_config(self):
        return {"start": self.start}


def build_gaussian_actor(
    observation_shape: tuple[int, ...], action_size: int, hidden_units: int = 64, hidden_layers: int = 2,
    log_std_init: float = 0.0, initializer: str = "glorot",
) -> keras.Model:
    """Returns a model mapping observations (batch, *shape) to [mean | log_std] (batch, 2 x action_size).

    One Dense layer gives both halves, so the model stays a plain Dense chain that every
    reader of the format (and ONNX) runs; `trainer.distributions.DiagonalGaussian` reads it.
    The log standard deviation is state-independent, as in SB3's A2C: its kernel columns
    are held at zero, so it is learned through the bias alone (a per-state one let some
    states' noise collapse early, and Pendulum stalled near -800 where this reaches -200).
    """
    observation, x = _box_trunk(observation_shape, hidden_units, hidden_layers, "actor", initializer)
    head = keras.layers.Dense(2 * action_size, name="mean_and_log_std",
                              kernel_initializer=keras.initializers.Orthogonal(gain=0.01),
                              kernel_constraint=KeepColumnsZero(action_size))
    outputs = head(x)
    head.kernel.assign(head.kernel_constraint(head.kernel))
    head.bias.assign([0.0] * action_size + [log_std_init] * action_size)  # mean 0, std exp(log_std_init)
    return keras.Model(observation, outputs, name="actor")


@keras.saving.register_keras_serializable(package="a2c")
class StateDependentNoiseHead(keras.constraints.Constraint):
    """The gSDE head's kernel layout, restored after every update: columns [0, mean) are
    learned (the mean); the next `latent x mean` columns are zero, so those outputs are the
    bias alone: the noise's log standard deviation matrix, one learned entry per (latent
    feature, action element), the same for every state; the last `latent` columns are the
    identity, so those outputs are the latent features themselves (their bias held at 0)."""

    def __init__(self, mean: int, latent: int, bias: bool = False):
        self.mean, self.latent, self.bias = mean, latent, bias

    def __call__(self, weights):
        columns = keras.ops.arange(keras.ops.shape(weights)[-1])
        first_feature = self.mean + self.latent * self.mean
        keep = keras.ops.cast(columns < self.mean, weights.dtype)
        if self.bias:  # the log std entries are the bias; the features' bias stays 0
            return weights * keras.ops.cast(columns < first_feature, weights.dtype)
        identity = keras.ops.concatenate(
            [keras.ops.zeros((self.latent, first_feature), weights.dtype), keras.ops.eye(self.latent, dtype=weights.dtype)],
            axis=1)
        return weights * keep + identity

    def get_config(self):
        return {"mean": self.mean, "latent": self.latent, "bias": self.bias}


def build_state_dependent_noise_actor(
    observation_shape: tuple[int, ...], action_size: int, hidden_units: int = 64, hidden_layers: int = 2,
    log_std_init: float = -2.0, initializer: str = "glorot",
) -> keras.Model:
    """Returns the gSDE actor for training: observations -> [mean | log_std matrix | latent]
    (batch, action_size + latent x action_size + latent), one Dense chain, as
    `trainer.distributions.StateDependentNoise` reads it (SB3's gSDE with full_std).

    The latent features are the last hidden layer's, passed through by identity columns so
    the rollout gets them from the same forward pass; the loss stops their gradient, as SB3
    does. Published, it becomes a plain [mean | log_std] actor (`gaussian_actor_from_noise_actor`).
    """
    observation, x = _box_trunk(observation_shape, hidden_units, hidden_layers, "actor", initializer)
    latent = x.shape[-1]
    width = action_size + latent * action_size + latent
    head = keras.layers.Dense(width, name="mean_noise_and_latent", **dense_initializers(initializer, latent),
                              kernel_constraint=StateDependentNoiseHead(action_size, latent),
                              bias_constraint=StateDependentNoiseHead(action_size, latent, bias=True))
    outputs = head(x)
    head.kernel.assign(head.kernel_constraint(head.kernel))
    head.bias.assign([0.0] * action_size + [log_std_init] * (latent * action_size) + [0.0] * latent)
    return keras.Model(observation, outputs, name="actor")


def gaussian_actor_from_noise_actor(actor: keras.Model, action_size: int, log_std) -> keras.Model:
    """Returns the plain, uncompiled [mean | log_std] actor (what `build_gaussian_actor` makes,
    without constraints) with the gSDE actor's trunk and mean and the given state-independent
    log standard deviation per action element."""
    config = actor.get_config()
    head = config["layers"][-1]
    head["config"]["units"] = 2 * action_size
    old_name, new_name = head["name"], "mean_and_log_std"  # the name build_gaussian_actor gives it
    head["name"] = head["config"]["name"] = new_name
    # The output reference keeps its own shape ([name, 0, 0], or a list of them): only the name changes.
    outputs = config["output_layers"]
    config["output_layers"] = ([new_name, *outputs[1:]] if outputs and outputs[0] == old_name
                               else [[new_name, *o[1:]] if o[0] == old_name else o for o in outputs])
    for layer in config["layers"]:
        for key in ("kernel_constraint", "bias_constraint"):
            if layer["config"].get(key) is not None:
                layer["config"][key] = None
    plain = actor.__class__.from_config(config)
    *trunk, kernel, bias = actor.get_weights()
    kernel = np.concatenate([kernel[:, :action_size], np.zeros((kernel.shape[0], action_size), kernel.dtype)], axis=1)
    bias = np.concatenate([bias[:action_size], np.asarray(log_std, bias.dtype).reshape(action_size)])
    plain.set_weights([*trunk, kernel, bias])
    return plain


def build_box_critic(
    observation_shape: tuple[int, ...], hidden_units: int = 64, hidden_layers: int = 2, initializer: str = "glorot",
) -> keras.Model:
    """Returns a model mapping observations (batch, *shape) to state values (batch, 1)."""
    observation, x = _box_trunk(observation_shape, hidden_units, hidden_layers, "critic", initializer)
    value = keras.layers.Dense(1, name="value", **dense_initializers(initializer, x.shape[-1]))(x)
    return keras.Model(observation, value, name="critic")


def inference_copy(model: keras.Model) -> keras.Model:
    """Returns an uncompiled copy with the same weights and no training constraints, so the
    saved file names no custom class (no loss, no constraint) and loads anywhere.

    Built from the model's config rather than `keras.models.clone_model`, which (Keras 3.15)
    compiles its clone like the original, and so would save the custom loss into the file.
    """
    config = model.get_config()
    for layer in config["layers"]:
        for key in ("kernel_constraint", "bias_constraint"):
            if layer["config"].get(key) is not None:
                layer["config"][key] = None
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy
