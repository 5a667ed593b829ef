"""Version-1 artifacts on users' volumes keep loading and serving unchanged."""

import json
import shutil
from pathlib import Path

import keras
import numpy as np

from policy_artifacts import ArtifactLimits, TabularServable, load_servable, scan_versions
from tests.tolerances import FLOAT32_REORDERED

DATA = Path(__file__).parents[1] / "data"
V1_ROOT = DATA / "v1-artifact"  # published by the trainer at commit 52dc247 (schema 1)
V1_TABLES = DATA / "v1-artifact-tables.json"  # what that commit's loader tabulated from it


def test_the_v1_fixture_really_is_schema_1():
    document = json.loads((V1_ROOT / "frozenlake-4x4" / "1" / "manifest.json").read_text())
    assert document["schema_version"] == 1 and "desc" in document["env"]


def test_a_v1_artifact_loads_with_the_same_tables_as_before(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(V1_ROOT, root)
    assert scan_versions(root, "frozenlake-4x4").versions == [1]
    servable = load_servable(root, "frozenlake-4x4", 1, ArtifactLimits())
    assert isinstance(servable, TabularServable)
    before = json.loads(V1_TABLES.read_text())
    # Recorded from Keras' float32 arithmetic on one CPU; the loader computes in float64, and
    # other CPUs round float32 differently (2.6e-8 seen on an AMD EPYC): float32 rounding apart.
    np.testing.assert_allclose(servable.probabilities, np.array(before["probabilities"]), **FLOAT32_REORDERED)
    np.testing.assert_allclose(servable.values, np.array(before["values"]), **FLOAT32_REORDERED)
    actor = keras.models.load_model(root / "frozenlake-4x4" / "1" / "actor.keras", compile=False)
    np.testing.assert_allclose(servable.probabilities, np.asarray(actor(np.arange(16).reshape(-1, 1))),
                               **FLOAT32_REORDERED)


def test_a_v1_manifest_is_upgraded_to_schema_2_in_memory(tmp_path):
    manifest = load_servable(V1_ROOT, "frozenlake-4x4", 1, ArtifactLimits()).manifest
    assert manifest.schema_version == 2
    assert manifest.env.id == "FrozenLake-v1" and manifest.env.max_episode_steps == 100
    assert manifest.env.kwargs == {"map_name": "4x4", "is_slippery": False}
    assert manifest.observation_space.kind == "discrete" and manifest.observation_space.n == 16
    assert manifest.layout.rows == ["SFFF", "FHFH", "FFFH", "HFFG"] and manifest.layout.terminal == "HG"
    assert manifest.evaluation.metric == "success_rate" and manifest.evaluation.best == 1.0
