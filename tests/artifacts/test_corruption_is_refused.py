import json

import keras
import pytest

from policy_artifacts import ArtifactError, publish_version
from tests.artifacts.conftest import load, rewrite_manifest
from tests.helpers import manifest_fields, random_models


def test_hash_mismatch_is_refused(published):
    version, _, _ = published
    data = bytearray((version.path / "actor.keras").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (version.path / "actor.keras").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="actor.keras does not match its sha256"):
        load(version)


def test_truncated_model_file_is_refused(published):
    version, _, _ = published
    data = (version.path / "critic.keras").read_bytes()
    (version.path / "critic.keras").write_bytes(data[: len(data) // 3])
    with pytest.raises(ArtifactError, match="critic.keras"):
        load(version)


def test_missing_file_is_refused(published):
    version, _, _ = published
    (version.path / "critic.keras").unlink()
    with pytest.raises(ArtifactError, match="critic.keras is missing"):
        load(version)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("[]", "schema_version None is not supported"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # nesting deeper than the parser's recursion
    ('{"schema_version": 2, "version": 1' + "0" * 5000 + "}", "not valid JSON"),  # an integer too long to parse
])
def test_unreadable_manifest_is_refused(published, content, message):
    version, _, _ = published
    (version.path / "manifest.json").write_text(content)
    with pytest.raises(ArtifactError, match=message):
        load(version)


def test_a_manifest_too_deep_to_serialise_again_is_refused(published):
    version, _, _ = published
    rewrite_manifest(version.path, hyperparameters={"x": json.loads("[" * 300 + "]" * 300)})
    with pytest.raises(ArtifactError, match="manifest.json nests deeper than 32 levels"):
        load(version)


def test_a_loaded_manifest_serialises_again(published):
    version, _, _ = published
    rewrite_manifest(version.path, hyperparameters={"x": json.loads("[" * 30 + "]" * 30)})
    manifest = load(version).manifest
    assert type(manifest).model_validate_json(manifest.model_dump_json()) == manifest


def test_manifest_with_unknown_field_is_refused(published):
    version, _, _ = published
    rewrite_manifest(version.path, surprise=True)
    with pytest.raises(ArtifactError, match="surprise"):
        load(version)


def test_future_schema_is_refused(published):
    version, _, _ = published
    rewrite_manifest(version.path, schema_version=99)
    with pytest.raises(ArtifactError, match="schema_version 99"):
        load(version)


def test_manifest_that_disagrees_with_its_directory_is_refused(published):
    version, _, _ = published
    rewrite_manifest(version.path, version=7)
    with pytest.raises(ArtifactError, match="says 'frozenlake-4x4' version 7"):
        load(version)


def test_lambda_layer_is_refused_and_never_runs(tmp_path, private_tmp):
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
    with pytest.raises(ArtifactError, match="layer class 'Lambda' cannot be served without TensorFlow"):
        load(version)
    assert not marker.exists()
    assert list(private_tmp.iterdir()) == []


def test_failed_publication_leaves_no_version_and_no_staging(tmp_path):
    def write_then_fail(directory):
        (directory / "actor.keras").write_bytes(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish_version(tmp_path, "p", write_then_fail, manifest_fields())
    assert list((tmp_path / "p").iterdir()) == []
