import json

import keras
import numpy as np

from policy_artifacts import SCHEMA_VERSION, Manifest, TabularServable, list_policies, list_versions, publish_version
from tests.artifacts.conftest import load
from tests.helpers import manifest_fields, publish_models, random_models


def test_published_version_loads_back_to_the_same_outputs(published):
    version, actor, critic = published
    servable = load(version)
    assert isinstance(servable, TabularServable)
    states = np.arange(16).reshape(-1, 1)
    np.testing.assert_allclose(servable.probabilities, np.asarray(actor(states)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(servable.values, np.asarray(critic(states))[:, 0], rtol=1e-5, atol=1e-6)
    assert servable.probabilities.dtype == servable.values.dtype == np.float64
    np.testing.assert_allclose(servable.probabilities.sum(axis=1), 1.0, atol=1e-12)
    assert servable.manifest.version == 1 and servable.manifest.policy == "frozenlake-4x4"


def test_saved_models_stand_alone_for_any_keras_user(published):
    version, actor, _ = published
    model = keras.models.load_model(version.path / "actor.keras", compile=False)  # safe_mode defaults on
    out = np.asarray(model(np.array([[0], [5], [15]], dtype="int32")))
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_versions_count_up_and_hidden_staging_is_never_listed(tmp_path):
    actor, critic = random_models()
    for expected in (1, 2, 3):
        assert publish_models(tmp_path, "p", actor, critic).version == expected
    (tmp_path / "p" / ".staging-leftover").mkdir()
    assert list_versions(tmp_path, "p") == [1, 2, 3]
    assert list_policies(tmp_path) == ["p"]


def test_manifest_is_written_in_schema_2_with_hashes_and_spaces(published):
    version, _, _ = published
    document = json.loads((version.path / "manifest.json").read_text())
    assert document["schema_version"] == SCHEMA_VERSION == 2
    manifest = Manifest.model_validate(document)
    assert set(manifest.files) == {"actor.keras", "critic.keras"}
    assert manifest.observation_space.n == 16 and manifest.action_space.n == 4
    assert manifest.layout.rows == ["SFFF", "FHFH", "FFFH", "HFFG"]
    assert load(version).manifest == manifest


def test_publishing_refuses_a_schema_1_manifest(tmp_path):
    old_style = manifest_fields(env=dict(kwargs={}, desc=["SFFF"]))
    actor, critic = random_models()

    def write(directory):
        actor.save(directory / "actor.keras")
        critic.save(directory / "critic.keras")

    try:
        publish_version(tmp_path, "p", write, old_style)
    except ValueError as exc:  # pydantic's ValidationError
        assert "desc" in str(exc)
    else:
        raise AssertionError("a schema-1 env was published")
    assert list_versions(tmp_path, "p") == []


def test_a_version_number_taken_by_something_else_is_skipped_when_publishing(tmp_path):
    actor, critic = random_models()
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "1").write_text("not a version")
    assert publish_models(tmp_path, "p", actor, critic).version == 2


def test_missing_root_lists_nothing(tmp_path):
    assert list_policies(tmp_path / "absent") == []
    assert list_versions(tmp_path / "absent", "p") == []
