import json

import keras
import pytest

from policy_artifacts import ArtifactError, publish_version
from policy_artifacts.loading import load_models, load_tables
from tests.helpers import manifest_fields, publish_models, random_models


def rewrite_manifest(path, **changes):
    document = json.loads((path / "manifest.json").read_text())
    document.update(changes)
    (path / "manifest.json").write_text(json.dumps(document))


def test_hash_mismatch_is_refused(published):
    version, _, _ = published
    data = bytearray((version.path / "actor.keras").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (version.path / "actor.keras").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="actor.keras does not match its sha256"):
        load_tables(version.path)


def test_truncated_model_file_is_refused(published):
    version, _, _ = published
    data = (version.path / "critic.keras").read_bytes()
    (version.path / "critic.keras").write_bytes(data[: len(data) // 3])
    with pytest.raises(ArtifactError, match="critic.keras"):
        load_tables(version.path)


def test_missing_file_is_refused(published):
    version, _, _ = published
    (version.path / "critic.keras").unlink()
    with pytest.raises(ArtifactError, match="critic.keras is missing"):
        load_tables(version.path)


@pytest.mark.parametrize("content, message", [("{not json", "not valid JSON"), ("[]", "bad manifest")])
def test_unreadable_manifest_is_refused(published, content, message):
    version, _, _ = published
    (version.path / "manifest.json").write_text(content)
    with pytest.raises(ArtifactError, match=message):
        load_tables(version.path)


def test_manifest_with_unknown_field_is_refused(published):
    version, _, _ = published
    rewrite_manifest(version.path, surprise=True)
    with pytest.raises(ArtifactError, match="surprise"):
        load_tables(version.path)


def test_future_schema_is_refused(published):
    version, _, _ = published
    rewrite_manifest(version.path, schema_version=99)
    with pytest.raises(ArtifactError, match="schema_version 99"):
        load_tables(version.path)


def test_manifest_that_disagrees_with_its_directory_is_refused(published):
    version, _, _ = published
    rewrite_manifest(version.path, version=7)
    with pytest.raises(ArtifactError, match="says version 7"):
        load_tables(version.path)


def test_wrong_action_space_is_refused(tmp_path):
    actor, critic = random_models(n_actions=4)
    version = publish_models(tmp_path, "p", actor, critic, action_space={"n": 5})
    with pytest.raises(ArtifactError, match=r"need \(None, 1\) -> \(None, 5\)"):
        load_models(version.path)


def test_lambda_layer_is_refused_by_safe_mode_and_never_runs(tmp_path):
    marker = tmp_path / "lambda-ran"
    marker_path = str(marker)  # a plain string, so Keras can serialise the closure
    inputs = keras.Input(shape=(1,), dtype="int32")
    x = keras.layers.CategoryEncoding(16, output_mode="one_hot")(inputs)
    x = keras.layers.Lambda(lambda t: (open(marker_path, "w").close(), t)[1])(x)  # leaves a file if run
    actor = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))
    marker.unlink(missing_ok=True)  # building the model ran it once; loading must not
    _, critic = random_models()

    def write(directory):
        actor.save(directory / "actor.keras")
        critic.save(directory / "critic.keras")

    version = publish_version(tmp_path / "root", "p", write, manifest_fields())
    with pytest.raises(ArtifactError, match="cannot be loaded safely"):
        load_models(version.path)
    assert not marker.exists()


def test_failed_publication_leaves_no_version_and_no_staging(tmp_path):
    def write_then_fail(directory):
        (directory / "actor.keras").write_bytes(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish_version(tmp_path, "p", write_then_fail, manifest_fields())
    assert list((tmp_path / "p").iterdir()) == []
