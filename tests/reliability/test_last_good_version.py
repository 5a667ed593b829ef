"""The last good version, always: past any number of broken newer versions, on a fresh
start; with bounded memory of what was seen; and without trusting what the root holds."""

import json
import os
import shutil
from pathlib import Path

from tests.helpers import publish_models, random_models
from tests.services import POLICY


def copy_as_version(root: Path, source: Path, number: int, edit_manifest=None, damage=None) -> Path:
    """Copies a published version to a new number (renumbering its manifest), damaged."""
    scratch = root.parent / f"scratch-{number}"
    shutil.copytree(source, scratch)
    manifest = json.loads((scratch / "manifest.json").read_text())
    manifest["version"] = number
    if edit_manifest:
        edit_manifest(manifest)
    (scratch / "manifest.json").write_text(json.dumps(manifest))
    if damage:
        damage(scratch)
    target = root / POLICY / str(number)
    os.rename(scratch, target)
    return target


def test_a_fresh_instance_walks_back_past_twenty_broken_versions(tmp_path, start_service):
    root = tmp_path / "artifacts"
    good = publish_models(root, POLICY, *random_models(seed=1)).path
    for number in range(2, 22):
        if number % 5 == 0:  # loads in Keras, but the manifest claims more states than the models have
            def more_states(manifest):
                manifest["observation_space"]["n"] = 25
                manifest["layout"] = None
            copy_as_version(root, good, number, edit_manifest=more_states)
        else:  # a model file that does not match its hash
            copy_as_version(root, good, number, damage=lambda p: (p / "actor.keras").write_bytes(b"junk"))
    service = start_service(root)
    service.wait_ready()
    assert service.post("/act", {"observation": 0}).json()["version"] == 1
    status = service.get(f"/models/{POLICY}").json()
    assert status["served_version"] == 1
    states = {v["version"]: v["state"] for v in status["versions"]}
    assert states[1] == "loaded" and all(states[n] == "failed" for n in range(17, 22))
    assert len(status["versions"]) <= 5 + 1  # bounded: the newest failures and the good one
    reasons = " ".join(v["error"] or "" for v in status["versions"])
    assert "sha256" in reasons and "25" in reasons


def test_state_stays_bounded_and_unserved_tables_are_deleted(tmp_path, start_service):
    root, cache = tmp_path / "artifacts", tmp_path / "cache"
    first = publish_models(root, POLICY, *random_models(seed=1)).path
    service = start_service(root, POLICY_KEEP_VERSIONS=2, POLICY_CACHE_DIR=cache)
    service.wait_ready()
    for number in range(2, 9):
        copy_as_version(root, first, number)
    service.wait_until_every_worker(lambda: service.post("/act", {"observation": 0}).json()["version"] == 8,
                                    "version 8 served")
    status = service.get(f"/models/{POLICY}").json()
    loaded = [v["version"] for v in status["versions"] if v["state"] == "loaded"]
    assert loaded == [8, 7]
    assert len(status["versions"]) <= 4  # 2 loaded + at most 2 remembered removals
    service.wait_until(lambda: len(list((cache / "servables").iterdir())) <= 4, "old tables deleted")
    for number in range(3, 9):
        shutil.rmtree(root / POLICY / str(number))
    service.wait_until_every_worker(lambda: service.post("/act", {"observation": 0}).json()["version"] == 2,
                                    "version 2 served after the newer ones vanished")


def test_entries_that_are_not_versions_are_ignored_with_a_reason(tmp_path, start_service):
    root = tmp_path / "artifacts"
    good = publish_models(root, POLICY, *random_models(seed=1)).path
    outside = tmp_path / "outside"
    shutil.copytree(good, outside)
    json_path = outside / "manifest.json"
    json_path.write_text(json_path.read_text().replace('"version": 1', '"version": 2'))
    (root / POLICY / "2").symlink_to(outside, target_is_directory=True)  # a version outside the root
    shutil.copytree(good, root / POLICY / "١٢")  # Arabic-Indic digits: not a version number
    service = start_service(root)
    service.wait_ready()
    publish_models(root, POLICY, *random_models(seed=3))  # a newer version is still picked up
    service.wait_until_every_worker(lambda: service.post("/act", {"observation": 0}).json()["version"] == 3,
                                    "version 3 served")
    status = service.get(f"/models/{POLICY}").json()
    assert 2 not in [v["version"] for v in status["versions"] if v["state"] == "loaded"]
    listed = {entry["name"]: entry["reason"] for entry in status["ignored"]}
    assert {"١٢", "2"} <= set(listed), status
    assert "symbolic link" in listed["2"] and "ASCII" in listed["١٢"], listed
