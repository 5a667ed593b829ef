"""Apps built in-process (Flask's test client) over a loader state in a temporary cache
dir: a tabular policy, a Box-observation policy with discrete actions, one with Box
actions (a Gaussian actor, two action elements) and, for the repository index, a version
the loader refused. For tests of what a protocol answers, not of processes or sockets."""

from pathlib import Path

from service import handoff
from service.handoff import VersionRecord, VersionState
from service.settings import Settings
from tests.helpers import (
    publish_box_models, publish_damaged, publish_gaussian_models, publish_models, random_box_models,
    random_gaussian_models, random_models, truncate_file,
)
from tests.services import in_process_app

TABULAR = "frozenlake-4x4"
BOX = "cartpole"
GAUSSIAN = "twin-torque"  # Box actions of shape [2], in [-2, 2]
MAX_BATCH = 64


def build_client(root: Path, cache_dir: Path, **settings):
    """Returns a test client of an app serving what the loader makes of `root`."""
    settings = Settings(**{"artifact_root": root, "max_batch": MAX_BATCH, **settings})
    return in_process_app(settings, cache_dir).test_client()


def publish_both(root: Path) -> None:
    """Publishes version 1 of TABULAR, BOX and GAUSSIAN, and a damaged version 2 of TABULAR."""
    publish_models(root, TABULAR, *random_models(seed=1))
    publish_box_models(root, BOX, *random_box_models(shape=(4,), n_actions=2, seed=3))
    publish_gaussian_models(root, GAUSSIAN, *random_gaussian_models(action_size=2, seed=4))
    publish_damaged(root, TABULAR, truncate_file("manifest.json"))


def add_loading_version(client, policy: str) -> None:
    """Makes the client's app see the loader checking a new version of `policy` now."""
    registry = client.application.extensions["registry"]
    state = handoff.read_state(registry.cache_dir)
    record = state.policies[policy]
    loading = VersionRecord(version=max(r.version for r in record.versions) + 1, state=VersionState.LOADING)
    policies = {**state.policies, policy: record.model_copy(update={"versions": [loading, *record.versions]})}
    handoff.write_state(registry.cache_dir, state.model_copy(update={"policies": policies}))
    assert registry.refresh()
