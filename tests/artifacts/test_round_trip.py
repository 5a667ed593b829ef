import json

import keras
import numpy as np

from policy_artifacts import Manifest, list_policies, list_versions, read_verified
from policy_artifacts.loading import load_tables
from tests.helpers import publish_models, random_models


def test_published_version_loads_back_to_the_same_outputs(published):
    version, actor, critic = published
    tables = load_tables(version.path)
    states = np.arange(16).reshape(-1, 1)
    np.testing.assert_allclose(tables.probabilities, np.asarray(actor(states)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tables.values, np.asarray(critic(states))[:, 0], rtol=1e-5, atol=1e-6)
    assert tables.manifest.version == 1 and tables.manifest.policy == "frozenlake-4x4"


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


def test_manifest_records_hashes_and_spaces(published):
    version, _, _ = published
    manifest = Manifest.model_validate(json.loads((version.path / "manifest.json").read_text()))
    assert set(manifest.files) == {"actor.keras", "critic.keras"}
    assert manifest.observation_space.n == 16 and manifest.action_space.n == 4
    assert read_verified(version.path).manifest == manifest


def test_missing_root_lists_nothing(tmp_path):
    assert list_policies(tmp_path / "absent") == []
    assert list_versions(tmp_path / "absent", "p") == []
