"""Only real directories and regular files below the artifact root are ever read."""

import os
import shutil
import time

import pytest

from policy_artifacts import ArtifactError, list_policies, scan_versions
from tests.artifacts.conftest import load


def test_a_version_directory_linked_to_outside_the_root_is_refused_and_not_listed(published, tmp_path):
    version, _, _ = published
    outside = tmp_path / "outside"
    shutil.copytree(version.path, outside)
    (version.path.parent / "2").symlink_to(outside, target_is_directory=True)
    listing = scan_versions(tmp_path, "frozenlake-4x4")
    assert listing.versions == [1]
    assert listing.ignored == [("2", "a symbolic link, not a directory")]
    with pytest.raises(ArtifactError, match="version 2: is a symbolic link"):
        load(type(version)(version.policy, 2, version.path.parent / "2"))


def test_a_policy_directory_that_is_a_link_is_neither_listed_nor_loaded(published, tmp_path):
    version, _, _ = published
    (tmp_path / "alias").symlink_to(version.path.parent, target_is_directory=True)
    (tmp_path / "a-file").write_text("not a policy")
    assert list_policies(tmp_path) == ["frozenlake-4x4"]
    assert scan_versions(tmp_path, "alias").versions == []
    with pytest.raises(ArtifactError, match="policy alias: is a symbolic link"):
        load(type(version)("alias", 1, tmp_path / "alias" / "1"))


@pytest.mark.parametrize("name", ["manifest.json", "actor.keras"])
def test_a_linked_file_is_refused_even_when_it_points_at_the_right_bytes(published, tmp_path, name):
    version, _, _ = published
    real = tmp_path / f"real-{name}"
    (version.path / name).rename(real)
    (version.path / name).symlink_to(real)
    with pytest.raises(ArtifactError, match=f"{name} is a symbolic link, not a regular file"):
        load(version)


def test_a_fifo_manifest_is_refused_at_once_without_blocking(published):
    version, _, _ = published
    (version.path / "manifest.json").unlink()
    os.mkfifo(version.path / "manifest.json")  # no writer: a blocking open would wait forever
    started = time.monotonic()
    with pytest.raises(ArtifactError, match="manifest.json is a FIFO, not a regular file"):
        load(version)
    assert time.monotonic() - started < 5


def test_a_version_that_is_a_file_is_listed_as_ignored(published, tmp_path):
    version, _, _ = published
    (version.path.parent / "2").write_text("not a directory")
    assert scan_versions(tmp_path, "frozenlake-4x4").ignored == [("2", "a regular file, not a directory")]


@pytest.mark.parametrize("name, reason", [
    ("١٢", "not a version number (ASCII digits only)"),  # Arabic-Indic digits: isdigit() and int() accept them
    ("²", "not a version number (ASCII digits only)"),
    ("v3", "not a version number (ASCII digits only)"),
    ("007", "no leading zero"),
    ("0", "starts at 1"),
    ("1" * 40, "at most 18 digits"),
])
def test_names_that_are_not_ascii_version_numbers_are_ignored_with_a_reason(published, tmp_path, name, reason):
    version, _, _ = published
    shutil.copytree(version.path, version.path.parent / name)
    listing = scan_versions(tmp_path, "frozenlake-4x4")
    assert listing.versions == [1]
    [(ignored_name, why)] = listing.ignored
    assert ignored_name == name and reason in why


def test_staging_directories_are_skipped_silently(published, tmp_path):
    version, _, _ = published
    (version.path.parent / ".staging-abc").mkdir()
    assert scan_versions(tmp_path, "frozenlake-4x4").ignored == []
