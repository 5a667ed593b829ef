"""Forward passes of Dense-only Keras models in numpy, from a snapshot of their weights.

A rollout calls the actor once per vector step and an evaluation once per episode step,
and any Keras call (`predict_on_batch`, `model(x)`, a `tf.function`) costs about half a
millisecond of TensorFlow dispatch, whatever the batch: 20-50x the arithmetic of these
small models. The weights change only in `update`, so a snapshot taken once per rollout
or evaluation computes the same outputs (tested against Keras) for microseconds a call.
Training itself stays Keras': `train_on_batch` on the compiled models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    import keras


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_ACTIVATIONS = {"linear": lambda x: x, "relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh, "softmax": _softmax}


def numpy_forward(model: keras.Model) -> Callable[[np.ndarray], np.ndarray] | None:
    """Returns inputs -> the model's outputs (float64) for its current weights, or None if it has
    a layer other than Input, Flatten and Dense with a linear, relu, tanh or softmax activation."""
    import keras  # here, not at the top: Box tasks import this module, and the CLI's checks run without TensorFlow

    steps = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Flatten):
            steps.append(lambda x: x.reshape(len(x), -1))
            continue
        activation = keras.activations.serialize(layer.activation) if isinstance(layer, keras.layers.Dense) else None
        if activation not in _ACTIVATIONS:
            return None
        kernel, *bias = (np.asarray(w, np.float64) for w in layer.get_weights())
        steps.append(lambda x, k=kernel, b=bias, f=_ACTIVATIONS[activation]: f(x @ k + b[0] if b else x @ k))

    def forward(inputs: np.ndarray) -> np.ndarray:
        x = np.asarray(inputs, np.float64)
        for step in steps:
            x = step(x)
        return x

    return forward
