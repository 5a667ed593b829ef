"""Box-observation policies are served as ONNX that ONNX Runtime runs and that agrees with Keras."""

import json

import numpy as np
import onnxruntime
import pytest

from policy_artifacts import ArtifactError, BoxSpace, NetworkServable, load_servable, parse_manifest
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


def test_a_model_whose_onnx_graph_takes_its_constants_as_inputs_is_refused_at_publishing(tmp_path, private_tmp):
    import keras

    observation = keras.Input(shape=(4,), dtype="float32", name="observation")
    normalized = keras.layers.Normalization(mean=[0.0, 1.0, 0.0, 1.0], variance=[1.0, 2.0, 3.0, 4.0])(observation)
    actor = keras.Model(observation, keras.layers.Dense(2, activation="softmax")(normalized))
    _, critic = random_box_models()
    with pytest.raises(ArtifactError, match="actor.onnx has 3 inputs .* only the observation may be one"):
        publish_box_models(tmp_path, "normalized", actor, critic)
    assert list((tmp_path / "normalized").iterdir()) == []  # nothing published, no staging left
    assert list(private_tmp.iterdir()) == []  # export scratch and autograph modules removed


def test_a_box_version_without_its_serving_form_is_refused_with_the_command_that_republishes_it(tmp_path):
    version = publish_box_models(tmp_path, "cartpole", *random_box_models())
    manifest = json.loads((version.path / "manifest.json").read_text())
    for name in ("actor.onnx", "critic.onnx"):
        (version.path / name).unlink()
        del manifest["files"][name]
    (version.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"has no serving form \(actor.onnx, critic.onnx\).* "
                                            r"python -m trainer.republish .*--policy cartpole --version 1"):
        load(version)


def test_a_serving_form_that_disagrees_with_its_keras_model_is_refused(tmp_path):
    version = publish_box_models(tmp_path, "cartpole", *random_box_models(seed=3))
    other = publish_box_models(tmp_path / "other", "cartpole", *random_box_models(seed=4))
    manifest = json.loads((version.path / "manifest.json").read_text())
    (version.path / "actor.onnx").write_bytes((other.path / "actor.onnx").read_bytes())
    manifest["files"]["actor.onnx"] = json.loads((other.path / "manifest.json").read_text())["files"]["actor.onnx"]
    (version.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="actor.onnx does not agree with its .keras model within 0.0001"):
        load(version)


def test_sample_observations_stay_within_bounds_and_are_repeatable():
    space = BoxSpace(shape=[4], dtype="float32", low=[-4.8, None, 0.5, -3e38], high=[4.8, None, None, 3e38])
    samples = sample_observations(space, count=100)
    assert samples.dtype == np.float32 and samples.shape == (100, 4)
    assert np.all(np.abs(samples[:, 0]) <= 4.8) and np.all(samples[:, 2] >= 0.5) and np.all(np.isfinite(samples))
    assert samples[:, 0].std() > 2  # uniform over the bounded element, not squeezed near zero
    np.testing.assert_array_equal(samples, sample_observations(space, count=100))


def test_republishing_a_version_without_its_serving_form_makes_a_servable_next_version(tmp_path):
    from trainer.republish import main as republish

    actor, critic = random_box_models(seed=5)
    old = publish_box_models(tmp_path, "cartpole", actor, critic)
    manifest = json.loads((old.path / "manifest.json").read_text())
    for name in ("actor.onnx", "critic.onnx"):
        (old.path / name).unlink()
        del manifest["files"][name]
    (old.path / "manifest.json").write_text(json.dumps(manifest))

    assert republish(["--artifact-root", str(tmp_path), "--policy", "cartpole", "--version", "1"]) == 0
    servable = load_servable(tmp_path, "cartpole", 2)
    observations = np.random.default_rng(6).normal(size=(16, 4)).astype(np.float32)
    runtime = session(servable.actor_onnx)
    got = runtime.run(None, {runtime.get_inputs()[0].name: observations})[0]
    np.testing.assert_allclose(got, np.asarray(actor(observations)), rtol=0, atol=1e-5)
    assert servable.manifest.evaluation == parse_manifest(manifest).evaluation
