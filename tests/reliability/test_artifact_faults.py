"""Faults in the artifact volume: the last good version keeps answering and the fault shows."""

import shutil
import stat

from tests.helpers import publish_models, random_models
from tests.services import POLICY


def versions_by_number(service):
    return {v["version"]: v for v in service.get(f"/models/{POLICY}").json()["versions"]}


def test_half_written_version_is_refused_until_complete(tmp_path, start_service):
    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models(seed=1))
    service = start_service(root)
    service.wait_ready()
    # Someone copies a version in by hand, file by file, with no staging rename.
    publish_models(tmp_path / "elsewhere", POLICY, *random_models(seed=2))
    source = publish_models(tmp_path / "elsewhere", POLICY, *random_models(seed=2)).path  # its manifest says 2
    target = root / POLICY / "2"
    target.mkdir()
    shutil.copy(source / "actor.keras", target / "actor.keras")
    service.wait_until(
        lambda: "manifest.json is missing" in (versions_by_number(service).get(2, {}).get("error") or ""),
        "v2 to be reported failed for its missing manifest")
    assert service.post("/act", {"observation": 0}).json()["version"] == 1
    shutil.copy(source / "critic.keras", target / "critic.keras")
    shutil.copy(source / "manifest.json", target / "manifest.json")
    service.wait_until(lambda: service.post("/act", {"observation": 0}).json()["version"] == 2, "v2 served")


def test_deleted_versions_fall_back_and_the_last_one_keeps_answering(tmp_path, start_service):
    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models(seed=1))
    publish_models(root, POLICY, *random_models(seed=2))
    service = start_service(root)
    service.wait_ready()
    service.wait_until_every_worker(lambda: service.post("/act", {"observation": 0}).json()["version"] == 2,
                                    "v2 served")
    shutil.rmtree(root / POLICY / "2")
    service.wait_until_every_worker(lambda: versions_by_number(service)[2]["state"] == "removed", "v2 removed")
    assert all(service.post("/act", {"observation": 0}).json()["version"] == 1 for _ in range(10))
    shutil.rmtree(root)
    service.wait_until_every_worker(lambda: versions_by_number(service)[1]["state"] == "removed", "v1 removed")
    assert all(service.post("/act", {"observation": 0}).json()["version"] == 1 for _ in range(10))
    assert service.get("/readyz").status_code == 200


def test_read_only_artifact_root_is_served(tmp_path, start_service):
    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models(seed=1))
    published = sorted(path.relative_to(root) for path in root.rglob("*"))  # the trainer's, numbering record included
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        service = start_service(root)
        service.wait_ready()
        assert service.post("/act", {"observation": 0}).status_code == 200
        assert sorted(path.relative_to(root) for path in root.rglob("*")) == published  # nothing written into it
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_a_version_that_comes_back_is_served_again(tmp_path, start_service):
    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models(seed=1))
    version_two = publish_models(root, POLICY, *random_models(seed=2)).path
    service = start_service(root)
    service.wait_ready()
    service.wait_until_every_worker(lambda: service.post("/act", {"observation": 0}).json()["version"] == 2,
                                    "v2 served")
    parked = tmp_path / "parked"
    version_two.rename(parked)  # unmounted, say: the same files come back unchanged
    service.wait_until_every_worker(lambda: versions_by_number(service)[2]["state"] == "removed", "v2 removed")
    parked.rename(version_two)
    service.wait_until_every_worker(lambda: service.post("/act", {"observation": 0}).json()["version"] == 2,
                                    "v2 served again")
