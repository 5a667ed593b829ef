import json
import tempfile

import pytest

from policy_artifacts import ArtifactLimits, load_servable
from tests.helpers import publish_models, random_models


@pytest.fixture
def published(tmp_path):
    actor, critic = random_models()
    version = publish_models(tmp_path, "frozenlake-4x4", actor, critic)
    return version, actor, critic


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Points tempfile at an empty directory of this test's own, to count what is left in it."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    monkeypatch.setenv("TMPDIR", str(directory))
    return directory


def load(version, limits=ArtifactLimits()):
    """Returns the servable of a PublishedVersion (or raises ArtifactError)."""
    return load_servable(version.path.parent.parent, version.policy, version.version, limits)


def rewrite_manifest(path, **changes):
    document = json.loads((path / "manifest.json").read_text())
    document.update(changes)
    (path / "manifest.json").write_text(json.dumps(document))
