"""Reading the `.keras` files the trainer writes, with numpy and h5py only: no TensorFlow.

A `.keras` file is a zip of `config.json` (the architecture, as data) and
`model.weights.h5` (the weights). The service reads both without Keras: the config is
matched against a short allowlist of layers, the weights are read by h5py from the paths
Keras 3 writes them to, and the model is evaluated by numpy. This keeps TensorFlow (about
1.6 GB) out of the serving image and the loader small, and it is stricter than Keras' safe
mode: nothing in the file names code, and any layer outside the allowlist is refused.

What is read: a Functional (or Sequential) model whose layers form one chain, input first,
`InputLayer -> [CategoryEncoding one_hot | Embedding] -> [Flatten] -> Dense ...`, with Dense
activations linear, relu, tanh, sigmoid or softmax. That is every model `trainer/models.py`
builds, and the models of schema-1 artifacts. Keras stores the weights of a model's
`layers` list under `layers/<class name in snake case>[_<k>]/vars/<i>`, numbering repeated
classes in layer order (`dense`, `dense_1`, ...); the reader follows the same rule.

Arithmetic is float64: answers agree with Keras' float32 within float32 rounding (checked
against Keras in tests/artifacts/test_keras_reader.py).
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from policy_artifacts.store import ArtifactError, first_line

WEIGHTS_MEMBER = "model.weights.h5"
CONFIG_MEMBER = "config.json"
# Everything a `.keras` file of the allowed layers holds; any other member (assets of
# lookup layers, say) belongs to a model this reader would refuse anyway.
MEMBERS = {CONFIG_MEMBER, WEIGHTS_MEMBER, "metadata.json"}


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


ACTIVATIONS: dict[str | None, Callable[[np.ndarray], np.ndarray]] = {
    None: lambda x: x,
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "softmax": _softmax,
}
# The snake-case names Keras 3 stores each allowed class's weights under.
WEIGHT_GROUPS = {
    "InputLayer": "input_layer",
    "CategoryEncoding": "category_encoding",
    "Embedding": "embedding",
    "Flatten": "flatten",
    "Dense": "dense",
}


@dataclass(frozen=True)
class Layer:
    kind: str
    apply: Callable[[np.ndarray], np.ndarray]
    detail: str


@dataclass(frozen=True)
class KerasModel:
    """A chain of layers read from a `.keras` file, callable on a numpy batch."""

    name: str
    input_shape: tuple[int, ...]  # without the batch dimension
    input_dtype: str
    layers: tuple[Layer, ...]
    encoded_states: tuple[int, ...]  # widths of CategoryEncoding / Embedding layers

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Returns the model's output for `batch` (batch, *input_shape), as float64."""
        x = np.asarray(batch)
        for layer in self.layers:
            x = layer.apply(x)
        return np.asarray(x, dtype=np.float64)


def _positive_int(value, what: str, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ArtifactError(f"{where}: {what} is {value!r}, not a positive integer")
    return value


def _read_weights(weights, group: str, shapes: list[tuple[int, ...]], where: str) -> list[np.ndarray]:
    """Returns the datasets `group/vars/0..` with exactly `shapes`, checked before any is read."""
    path = f"layers/{group}/vars"
    node = weights.get(path)
    if node is None or not hasattr(node, "keys"):
        raise ArtifactError(f"{where}: its weights have no {path}")
    names = sorted(node.keys())
    if names != [str(i) for i in range(len(shapes))]:
        raise ArtifactError(f"{where}: {path} holds {len(names)} arrays, the layer needs {len(shapes)}")
    arrays = []
    for i, shape in enumerate(shapes):
        dataset = node[str(i)]
        if not hasattr(dataset, "shape") or tuple(dataset.shape) != shape:
            got = tuple(dataset.shape) if hasattr(dataset, "shape") else "a group"
            raise ArtifactError(f"{where}: {path}/{i} is {got}, the layer needs {shape}")
        if dataset.dtype.kind != "f":
            raise ArtifactError(f"{where}: {path}/{i} holds {dataset.dtype}, not floats")
        array = np.asarray(dataset[()], dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ArtifactError(f"{where}: {path}/{i} holds non-finite weights")
        arrays.append(array)
    return arrays


def _one_hot(n: int) -> Callable[[np.ndarray], np.ndarray]:
    def apply(x: np.ndarray) -> np.ndarray:
        states = np.asarray(x).reshape(len(x), -1)[:, 0].astype(np.int64)
        out = np.zeros((len(states), n))
        inside = (states >= 0) & (states < n)
        out[np.flatnonzero(inside), states[inside]] = 1.0
        return out
    return apply


def _embedding(table: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def apply(x: np.ndarray) -> np.ndarray:
        return table[np.clip(np.asarray(x, dtype=np.int64), 0, len(table) - 1)]
    return apply


def _dense(kernel: np.ndarray, bias: np.ndarray | None, activation) -> Callable[[np.ndarray], np.ndarray]:
    def apply(x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, dtype=np.float64) @ kernel
        return activation(y if bias is None else y + bias)
    return apply


def _chain(config: dict, where: str) -> list[dict]:
    """Returns the model's layer configs in order, if they form one chain from its input."""
    kind = config.get("class_name")
    if kind not in ("Functional", "Model", "Sequential") or not isinstance(config.get("config"), dict):
        raise ArtifactError(f"{where}: is a {str(kind)[:40]!r}, not a Functional or Sequential model")
    sequential = kind == "Sequential"  # a chain by construction: its layers name no inbound nodes
    layers = config["config"].get("layers")
    if not isinstance(layers, list) or len(layers) < 2 or not all(isinstance(l, dict) for l in layers):
        raise ArtifactError(f"{where}: its config lists no layers")
    previous = None
    for index, layer in enumerate(layers):
        kind = layer.get("class_name")
        if kind not in WEIGHT_GROUPS or not isinstance(layer.get("config"), dict):
            raise ArtifactError(
                f"{where}: layer class {str(kind)[:40]!r} cannot be served without TensorFlow "
                f"(allowed: {', '.join(WEIGHT_GROUPS)})"
            )
        nodes = layer.get("inbound_nodes")
        if index == 0:
            if kind != "InputLayer" or nodes:
                raise ArtifactError(f"{where}: the first layer is not its input")
        elif not sequential:
            try:
                [node] = nodes
                [arg] = node["args"]
                source = arg["config"]["keras_history"][0]
            except (KeyError, TypeError, ValueError, IndexError):
                raise ArtifactError(f"{where}: layer {str(layer.get('name'))[:40]!r} is not one step of a chain") from None
            if source != previous or node.get("kwargs"):
                raise ArtifactError(f"{where}: layer {str(layer.get('name'))[:40]!r} is not one step of a chain")
        previous = layer.get("name")
    outputs = config["config"].get("output_layers")
    if not sequential and not (isinstance(outputs, list) and outputs and outputs[0] == previous):
        raise ArtifactError(f"{where}: its output is not the last layer of the chain")
    return layers


def read_keras_model(data: bytes, where: str) -> KerasModel:
    """Returns the model in a `.keras` archive's bytes; raises ArtifactError if it cannot be read
    as an allowlisted chain of layers. `data` has passed the gate's archive caps."""
    import h5py

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unexpected = sorted(set(archive.namelist()) - MEMBERS)
            if unexpected:
                raise ArtifactError(f"{where}: has a member {unexpected[0][:80]!r} that no model of the allowed layers has")
            config = json.loads(archive.read(CONFIG_MEMBER))
            weights_bytes = archive.read(WEIGHTS_MEMBER)
    except ArtifactError:
        raise
    except KeyError as exc:
        raise ArtifactError(f"{where}: has no {first_line(exc)}") from None
    except Exception as exc:  # zipfile and json raise many types for hostile bytes
        raise ArtifactError(f"{where}: cannot be read: {first_line(exc)}") from None
    if not isinstance(config, dict):
        raise ArtifactError(f"{where}: config.json is not an object")
    layers = _chain(config, where)
    try:
        with h5py.File(io.BytesIO(weights_bytes), "r") as weights:
            return _build(config, layers, weights, where)
    except ArtifactError:
        raise
    except Exception as exc:  # h5py raises OSError, KeyError, ValueError... for bad files
        raise ArtifactError(f"{where}: its weights cannot be read: {first_line(exc)}") from None


def _build(config: dict, layers: list[dict], weights, where: str) -> KerasModel:
    settings = layers[0]["config"]
    batch_shape = settings.get("batch_shape")
    if not isinstance(batch_shape, list) or len(batch_shape) < 2 or batch_shape[0] is not None:
        raise ArtifactError(f"{where}: its input shape {str(batch_shape)[:60]} has no free batch dimension")
    input_shape = tuple(_positive_int(d, "an input dimension", where) for d in batch_shape[1:])
    input_dtype = settings.get("dtype")
    if input_dtype not in ("int32", "int64", "float32", "float64"):
        raise ArtifactError(f"{where}: its input dtype {str(input_dtype)[:40]!r} is not supported")
    counts: dict[str, int] = {}
    built, encoded = [], []
    shape = input_shape
    for layer in layers:
        kind, settings = layer["class_name"], layer["config"]
        group = WEIGHT_GROUPS[kind]
        seen = counts.get(group, 0)
        counts[group] = seen + 1
        group = group if seen == 0 else f"{group}_{seen}"
        name = str(layer.get("name"))[:40]
        if kind == "InputLayer":  # no weights; a Sequential model does not even list its group
            continue
        if kind == "CategoryEncoding":
            n = _positive_int(settings.get("num_tokens"), "num_tokens", where)
            if settings.get("output_mode") != "one_hot" or shape != (1,):
                raise ArtifactError(f"{where}: layer {name!r} is not a one-hot encoding of one state")
            _read_weights(weights, group, [], where)
            built.append(Layer(kind, _one_hot(n), f"one_hot({n})"))
            encoded.append(n)
            shape = (n,)
        elif kind == "Embedding":
            n = _positive_int(settings.get("input_dim"), "input_dim", where)
            dim = _positive_int(settings.get("output_dim"), "output_dim", where)
            [table] = _read_weights(weights, group, [(n, dim)], where)
            built.append(Layer(kind, _embedding(table), f"embedding({n}, {dim})"))
            encoded.append(n)
            shape = (*shape, dim)
        elif kind == "Flatten":
            _read_weights(weights, group, [], where)
            built.append(Layer(kind, lambda x: np.asarray(x).reshape(len(x), -1), "flatten"))
            shape = (math.prod(shape),)
        else:  # Dense, on the last axis as Keras applies it
            units = _positive_int(settings.get("units"), "units", where)
            activation = settings.get("activation")
            if not isinstance(activation, (str, type(None))) or activation not in ACTIVATIONS:
                raise ArtifactError(
                    f"{where}: layer {name!r} has activation {str(activation)[:40]!r} "
                    f"(allowed: {', '.join(a for a in ACTIVATIONS if a)})"
                )
            use_bias = settings.get("use_bias", True) is True
            shapes = [(shape[-1], units)] + ([(units,)] if use_bias else [])
            arrays = _read_weights(weights, group, shapes, where)
            built.append(Layer(kind, _dense(arrays[0], arrays[1] if use_bias else None, ACTIVATIONS[activation]),
                               f"dense({units}, {activation})"))
            shape = (*shape[:-1], units)
    return KerasModel(str(config["config"].get("name"))[:64], input_shape, input_dtype, tuple(built), tuple(encoded))
