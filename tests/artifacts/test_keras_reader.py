"""The TensorFlow-free reader of `.keras` files gives Keras' answers, and refuses the rest."""

import io
import zipfile

import h5py
import keras
import numpy as np
import pytest

from policy_artifacts import ArtifactError
from policy_artifacts.keras_reader import read_keras_model
from trainer.models import build_actor, build_box_actor, build_box_critic, build_critic
from tests.helpers import random_box_models, random_models


def saved(model, tmp_path) -> bytes:
    path = tmp_path / "model.keras"
    model.save(path)
    return path.read_bytes()


def randomised(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def embedding_actor():
    state = keras.Input(shape=(1,), dtype="int32")
    x = keras.layers.Flatten()(keras.layers.Embedding(10, 3)(state))
    return keras.Model(state, keras.layers.Dense(4, activation="softmax")(x))


@pytest.mark.parametrize("build, inputs", [
    (lambda: build_actor(16, 4), np.arange(16).reshape(-1, 1)),
    (lambda: build_critic(16, hidden_units=8), np.arange(16).reshape(-1, 1)),
    (embedding_actor, np.arange(10).reshape(-1, 1)),
    (lambda: build_box_actor((4,), 2), np.random.default_rng(1).normal(size=(32, 4))),
    (lambda: build_box_critic((2, 3), hidden_layers=1), np.random.default_rng(2).normal(size=(32, 2, 3))),
    (lambda: random_box_models(shape=(2, 3))[0], np.random.default_rng(3).normal(size=(32, 2, 3))),
])
def test_the_reader_gives_keras_answers(tmp_path, build, inputs):
    model = randomised(build())
    dtype = "int32" if inputs.dtype.kind == "i" else "float32"
    inputs = inputs.astype(dtype)
    expected = np.asarray(model(inputs), dtype=np.float64)
    got = read_keras_model(saved(model, tmp_path), "m")(inputs)
    # Keras computes in float32, the reader in float64: equal within float32 rounding.
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_model_that_is_not_one_chain_is_refused(tmp_path):
    observation = keras.Input(shape=(4,))
    left, right = keras.layers.Dense(3)(observation), keras.layers.Dense(3)(observation)
    model = keras.Model(observation, keras.layers.Dense(2)(keras.layers.Add()([left, right])))
    with pytest.raises(ArtifactError, match="is not one step of a chain|layer class 'Add' cannot be served"):
        read_keras_model(saved(model, tmp_path), "m")


def test_an_activation_outside_the_allowlist_is_refused(tmp_path):
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2, activation="gelu")])
    with pytest.raises(ArtifactError, match="activation 'gelu'"):
        read_keras_model(saved(model, tmp_path), "m")


def _replace_weights(data: bytes, change) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    weights = io.BytesIO(source.read("model.weights.h5"))
    with h5py.File(weights, "r+") as f:
        change(f)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            target.writestr(name, weights.getvalue() if name == "model.weights.h5" else source.read(name))
    return out.getvalue()


@pytest.mark.parametrize("change, message", [
    (lambda f: f.__delitem__("layers/dense_1/vars/1"), "layers/dense_1/vars holds 1 arrays, the layer needs 2"),
    (lambda f: (f.__delitem__("layers/dense/vars/0"), f.create_dataset("layers/dense/vars/0", data=np.zeros((3, 16)))),
     r"layers/dense/vars/0 is \(3, 16\), the layer needs \(4, 16\)"),
    (lambda f: f["layers/dense/vars/1"].__setitem__(0, np.nan), "non-finite weights"),
])
def test_weights_that_do_not_fit_the_config_are_refused(tmp_path, change, message):
    actor, _ = random_box_models()
    with pytest.raises(ArtifactError, match=message):
        read_keras_model(_replace_weights(saved(actor, tmp_path), change), "m")


def test_a_sequential_model_reads_like_a_functional_one(tmp_path):
    functional, _ = random_models()
    actor = keras.Sequential([keras.Input(shape=(1,), dtype="int32"), *functional.layers[1:]])
    states = np.arange(16, dtype=np.int32).reshape(-1, 1)
    model = read_keras_model(saved(actor, tmp_path), "m")
    assert model.input_shape == (1,) and model.input_dtype == "int32" and model.encoded_states == (16,)
    np.testing.assert_allclose(model(states), np.asarray(actor(states)), rtol=1e-5, atol=1e-6)
