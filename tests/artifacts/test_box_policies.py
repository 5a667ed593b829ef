"""Box-observation policies are served as ONNX that ONNX Runtime runs and that agrees with Keras."""

import numpy as np
import onnxruntime
import pytest

from policy_artifacts import ArtifactError, BoxSpace, NetworkServable
from policy_artifacts.network import sample_observations
from tests.artifacts.conftest import load
from tests.helpers import publish_box_models, random_box_models


def session(data):
    return onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])


def test_a_box_policy_round_trips_to_onnx_equal_to_keras(tmp_path, private_tmp):
    actor, critic = random_box_models(seed=3)
    servable = load(publish_box_models(tmp_path, "cartpole", actor, critic))
    assert isinstance(servable, NetworkServable) and isinstance(servable.manifest.observation_space, BoxSpace)
    observations = np.random.default_rng(1).normal(scale=2.0, size=(64, 4)).astype(np.float32)
    for data, model, width in ((servable.actor_onnx, actor, 2), (servable.critic_onnx, critic, 1)):
        runtime = session(data)
        [graph_input], [graph_output] = runtime.get_inputs(), runtime.get_outputs()
        assert graph_input.type == "tensor(float)" and graph_input.shape[1:] == [4]
        assert graph_output.shape[1] == width
        got = runtime.run(None, {graph_input.name: observations})[0]
        np.testing.assert_allclose(got, np.asarray(model(observations)), rtol=0, atol=1e-5)
    assert list(private_tmp.iterdir()) == []  # export scratch and autograph modules removed


def test_a_box_policy_over_matrices_round_trips_too(tmp_path):
    actor, critic = random_box_models(shape=(2, 3), n_actions=3)
    servable = load(publish_box_models(tmp_path, "grid", actor, critic))
    runtime = session(servable.actor_onnx)
    observations = np.random.default_rng(2).normal(size=(5, 2, 3)).astype(np.float32)
    got = runtime.run(None, {runtime.get_inputs()[0].name: observations})[0]
    np.testing.assert_allclose(got, np.asarray(actor(observations)), rtol=0, atol=1e-5)


def test_a_model_whose_onnx_graph_takes_its_constants_as_inputs_is_refused(tmp_path, private_tmp):
    import keras

    observation = keras.Input(shape=(4,), dtype="float32", name="observation")
    normalized = keras.layers.Normalization(mean=[0.0, 1.0, 0.0, 1.0], variance=[1.0, 2.0, 3.0, 4.0])(observation)
    actor = keras.Model(observation, keras.layers.Dense(2, activation="softmax")(normalized))
    _, critic = random_box_models()
    version = publish_box_models(tmp_path, "normalized", actor, critic)
    with pytest.raises(ArtifactError, match="actor.keras as ONNX has 3 inputs .* only the observation may be one"):
        load(version)
    assert list(private_tmp.iterdir()) == []


def test_sample_observations_stay_within_bounds_and_are_repeatable():
    space = BoxSpace(shape=[4], dtype="float32", low=[-4.8, None, 0.5, -3e38], high=[4.8, None, None, 3e38])
    samples = sample_observations(space, count=100)
    assert samples.dtype == np.float32 and samples.shape == (100, 4)
    assert np.all(np.abs(samples[:, 0]) <= 4.8) and np.all(samples[:, 2] >= 0.5) and np.all(np.isfinite(samples))
    assert samples[:, 0].std() > 2  # uniform over the bounded element, not squeezed near zero
    np.testing.assert_array_equal(samples, sample_observations(space, count=100))
