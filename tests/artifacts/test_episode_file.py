"""A version's rendered episode (episode.gif) is optional, hashed in the manifest like the
models, capped in size, and must be a GIF; the gate hands over the bytes it hashed."""

import hashlib
import json

import pytest

from policy_artifacts import ArtifactError, ArtifactLimits
from policy_artifacts.manifest import EPISODE_FILE
from tests.artifacts.conftest import load, rewrite_manifest
from tests.helpers import publish_box_models, random_box_models, small_gif

EPISODE = small_gif(seed=1)


@pytest.fixture
def with_episode(tmp_path):
    return publish_box_models(tmp_path, "cartpole", *random_box_models(seed=3), episode=EPISODE)


def files_of(version) -> dict:
    return json.loads((version.path / "manifest.json").read_text())["files"]


def replace_episode(version, data: bytes) -> None:
    """Writes other bytes as the episode and its hash into the manifest: only the gate's
    own checks can refuse it."""
    (version.path / EPISODE_FILE).write_bytes(data)
    rewrite_manifest(version.path, files={**files_of(version), EPISODE_FILE: hashlib.sha256(data).hexdigest()})


def test_the_episode_is_hashed_in_the_manifest_and_handed_over_as_hashed(with_episode):
    assert files_of(with_episode)[EPISODE_FILE] == hashlib.sha256(EPISODE).hexdigest()
    assert load(with_episode).episode_gif == EPISODE


def test_a_version_without_an_episode_loads_without_one(published):
    version, _, _ = published
    assert EPISODE_FILE not in files_of(version) and not (version.path / EPISODE_FILE).exists()
    assert load(version).episode_gif is None


def test_an_episode_that_does_not_match_its_hash_fails_the_version(with_episode):
    (with_episode.path / EPISODE_FILE).write_bytes(small_gif(seed=2))
    with pytest.raises(ArtifactError, match=f"{EPISODE_FILE} does not match its sha256"):
        load(with_episode)


def test_a_listed_episode_that_is_missing_fails_the_version(with_episode):
    (with_episode.path / EPISODE_FILE).unlink()
    with pytest.raises(ArtifactError, match=f"{EPISODE_FILE} is missing"):
        load(with_episode)


def test_an_episode_over_its_cap_is_refused_before_it_is_read(with_episode):
    with pytest.raises(ArtifactError, match="over the limit"):
        load(with_episode, ArtifactLimits(max_episode_bytes=len(EPISODE) - 1))
    assert load(with_episode, ArtifactLimits(max_episode_bytes=len(EPISODE))).episode_gif == EPISODE


def test_an_episode_that_is_not_a_gif_is_refused(with_episode):
    replace_episode(with_episode, b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ArtifactError, match="is not a GIF image"):
        load(with_episode)
