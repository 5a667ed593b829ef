"""Box (continuous) actions end to end in the trainer: a short real training run through
the CLI, the published manifest, and the published models read back as the service reads them."""

import json

import keras
import numpy as np
import pytest

from policy_artifacts import Manifest
from policy_artifacts.loading import load_servable
from policy_artifacts.network import sample_observations
from policy_artifacts.spaces import BoxActionSpace
from tests.processes import run_trainer


@pytest.fixture(scope="module")
def pendulum_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    result = run_trainer("--env", "Pendulum-v1", "--env-kwargs", json.dumps({"g": 9.0}), "--budget", "2048",
                         "--eval-episodes", "3", "--seed", "0", "--artifact-root", str(root), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "published pendulum version 1" in result.stdout
    return root


def test_a_box_action_policy_publishes_its_action_space_and_distribution(pendulum_root):
    manifest = Manifest.model_validate_json((pendulum_root / "pendulum" / "1" / "manifest.json").read_text())
    space = manifest.action_space
    assert isinstance(space, BoxActionSpace) and (space.shape, space.low, space.high) == ([1], [-2.0], [2.0])
    assert space.distribution.log_std == "state_independent"
    assert manifest.action_names == ["torque"] and manifest.env.kwargs == {"g": 9.0}
    hyperparameters = manifest.hyperparameters
    assert hyperparameters["normalize_observations"] and hyperparameters["normalize_rewards"]
    assert manifest.evaluation.metric == "mean_return" and manifest.evaluation.episodes == 3
    assert {"actor.onnx", "critic.onnx"} <= set(manifest.files)


def test_published_models_take_raw_observations_and_agree_with_the_serving_form(pendulum_root):
    version = pendulum_root / "pendulum" / "1"
    manifest = Manifest.model_validate_json((version / "manifest.json").read_text())
    servable = load_servable(pendulum_root, "pendulum", 1)  # the service's whole gate: ONNX checked against .keras
    actor = keras.saving.load_model(version / "actor.keras")  # safe mode: a plain Dense chain
    observations = sample_observations(manifest.observation_space)
    outputs = np.asarray(actor(observations))
    mean, std = manifest.action_space.mean_and_std(outputs)
    assert mean.shape == (len(observations), 1) and np.ptp(std) == 0  # one std for every state
    greedy = manifest.action_space.actions(outputs, greedy=True, rng=np.random.default_rng(0))
    assert np.array_equal(greedy, np.clip(mean, -2.0, 2.0))
    assert servable.manifest.action_space == manifest.action_space
