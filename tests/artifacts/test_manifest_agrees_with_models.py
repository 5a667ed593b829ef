"""Every manifest field that could disagree with the models is checked against them."""

import keras
import pytest

from policy_artifacts import ArtifactError, publish_version
from tests.artifacts.conftest import load, rewrite_manifest
from tests.helpers import (
    box_manifest_fields, manifest_fields, publish_models, random_box_models, random_models,
)


def publish_raw(root, actor, critic, fields):
    def write(directory):
        actor.save(directory / "actor.keras")
        critic.save(directory / "critic.keras")

    return publish_version(root, "p", write, fields)


def test_action_names_of_the_wrong_count_are_refused(published):
    version, _, _ = published
    rewrite_manifest(version.path, action_names=["LEFT", "DOWN", "RIGHT"])
    with pytest.raises(ArtifactError, match="action_names has 3 names for 4 actions"):
        load(version)


def test_more_actions_in_the_manifest_than_the_actor_gives_are_refused(tmp_path):
    version = publish_models(tmp_path, "p", *random_models(n_actions=4),
                             action_space={"kind": "discrete", "n": 5}, action_names=list("abcde"))
    with pytest.raises(ArtifactError, match=r"actor.keras maps \(None, 1\) int32 -> \(None, 4\), .* need "
                                            r"\(None, 1\) int32 -> \(None, 5\)"):
        load(version)


@pytest.mark.parametrize("manifest_states", [25, 9])
def test_an_observation_space_larger_or_smaller_than_the_models_is_refused(tmp_path, manifest_states):
    version = publish_models(tmp_path, "p", *random_models(n_states=16), n_states=manifest_states)
    with pytest.raises(ArtifactError, match=f"actor.keras encodes 16 states, the manifest's observation_space "
                                            f"has {manifest_states}"):
        load(version)


def test_a_critic_with_a_wide_output_is_refused(tmp_path):
    actor, _ = random_models()
    wide_critic, _ = random_models(n_actions=2)
    version = publish_raw(tmp_path, actor, wide_critic, manifest_fields())
    with pytest.raises(ArtifactError, match=r"critic.keras maps .* -> \(None, 2\), .* -> \(None, 1\)"):
        load(version)


def test_a_discrete_model_without_a_state_encoding_is_refused(tmp_path):
    state = keras.Input(shape=(1,), dtype="int32")
    x = keras.layers.Dense(8)(state)  # the raw state number, not an encoding of it
    actor = keras.Model(state, keras.layers.Dense(4, activation="softmax")(x))
    critic = keras.Model(state, keras.layers.Dense(1)(x))
    version = publish_raw(tmp_path, actor, critic, manifest_fields())
    with pytest.raises(ArtifactError, match="no CategoryEncoding or Embedding layer"):
        load(version)


def test_an_actor_whose_outputs_are_not_probabilities_is_refused(tmp_path):
    actor, critic = random_models()
    actor.layers[-1].activation = keras.activations.linear
    version = publish_raw(tmp_path, actor, critic, manifest_fields())
    with pytest.raises(ArtifactError, match="actor outputs are not probabilities"):
        load(version)


def test_a_box_manifest_whose_shape_differs_from_the_models_is_refused(tmp_path):
    version = publish_raw(tmp_path, *random_box_models(shape=(4,)), box_manifest_fields(observation_space=dict(
        kind="box", shape=[5], dtype="float32", low=[None] * 5, high=[None] * 5)))
    with pytest.raises(ArtifactError, match=r"actor.keras maps \(None, 4\) float32 -> \(None, 2\), .* need "
                                            r"\(None, 5\) float32"):
        load(version)


def test_a_box_model_taking_float64_is_refused(tmp_path):
    def build(width):
        observation = keras.Input(shape=(4,), dtype="float64")
        return keras.Model(observation, keras.layers.Dense(width, activation="softmax" if width > 1 else None)(observation))

    version = publish_raw(tmp_path, build(2), build(1), box_manifest_fields())
    with pytest.raises(ArtifactError, match=r"maps \(None, 4\) float64 .* need \(None, 4\) float32"):
        load(version)


def test_a_discrete_manifest_over_box_models_is_refused(tmp_path):
    version = publish_raw(tmp_path, *random_box_models(n_actions=4), manifest_fields())
    with pytest.raises(ArtifactError, match=r"maps \(None, 4\) float32 .* need \(None, 1\) int32"):
        load(version)
