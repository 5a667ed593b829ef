"""Where policy versions live on disk, how they are listed and how they are published.

Layout: ``ARTIFACT_ROOT/<policy>/<version>/{actor.keras, critic.keras, manifest.json}``, with
actor.onnx and critic.onnx for Box observations and episode.gif where the env renders.
A version is staged in a hidden directory beside the versions and renamed into place,
so readers never see a half-written version and two publishers never share a number.
Only real directories count: a symbolic link or anything else that is not a directory
is never a policy or a version, and a version's name is ASCII digits without a leading
zero (``str.isdigit`` and ``int`` also accept other scripts' digits, such as '١٢').
Reading a version goes through `policy_artifacts.gate`; this module never imports Keras.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from policy_artifacts.manifest import MANIFEST_FILE, MODEL_FILES, OPTIONAL_FILES, SCHEMA_VERSION, Manifest
from policy_artifacts.names import POLICY_NAME, POLICY_NAME_RULE

VERSION_NAME = re.compile(r"^[1-9][0-9]{0,17}$")  # ASCII only; at most 18 digits keeps it an int64
STAGING_PREFIX = ".staging-"
# The highest version number ever published for each policy, in the root (not the policy's
# own directory, which may be deleted whole): numbers are never reused, even after every
# version was deleted (a running service still remembers the old ones).
HIGHEST_DIR = ".highest-versions"


class ArtifactError(Exception):
    """A policy version is missing, incomplete, tampered with or does not fit its manifest."""


@dataclass(frozen=True)
class PublishedVersion:
    policy: str
    version: int
    path: Path


@dataclass(frozen=True)
class VersionListing:
    """The versions of one policy on disk, and the entries beside them that are not versions."""

    versions: list[int] = field(default_factory=list)  # ascending
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (printable entry name, why it is not a version)


def check_policy_name(name: str) -> str:
    """Returns the name if it is a safe directory name for a policy, else raises ArtifactError."""
    if not isinstance(name, str) or not POLICY_NAME.match(name):
        raise ArtifactError(f"invalid policy name {name!r}: use {POLICY_NAME_RULE}")
    return name


def first_line(exc: BaseException) -> str:
    """Returns the first line of an exception's message (at most 300 characters), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def printable_name(name: str) -> str:
    """Returns a directory entry's name as text any JSON writer takes: bytes that are not
    UTF-8 (which Python keeps as lone surrogates) become `\\xNN` escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def describe_kind(mode: int) -> str:
    """Returns what a file of this st_mode is, in words: 'a symbolic link', 'a FIFO', ..."""
    for test, words in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                        (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                        (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return words
    return "not a regular file"


def _real_directories(directory: Path) -> list[os.DirEntry] | None:
    """Returns the entries of a directory; None if it is missing or unreadable."""
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except OSError:
        return None


def list_policies(root: Path) -> list[str]:
    """Returns the policy names under the artifact root, sorted; [] if the root is missing.

    Only real directories with a valid policy name count; symbolic links never do.
    """
    entries = _real_directories(Path(root)) or []
    return sorted(e.name for e in entries if POLICY_NAME.match(e.name) and e.is_dir(follow_symlinks=False))


def _why_not_a_version(entry: os.DirEntry) -> str | None:
    """Returns why a policy directory's entry is not a version, or None if it is one."""
    if not VERSION_NAME.match(entry.name):
        if entry.name.isascii() and entry.name.isdigit():
            return "a version number starts at 1, has no leading zero and at most 18 digits"
        return "not a version number (ASCII digits only)"
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError as exc:
        return f"cannot be examined: {exc.strerror}"
    if not stat.S_ISDIR(mode):
        return f"{describe_kind(mode)}, not a directory"
    return None


def scan_versions(root: Path, policy: str) -> VersionListing:
    """Returns the policy's versions (real directories with ASCII-digit names), ascending,
    and every other entry with the reason it is ignored; staging directories are skipped."""
    if not POLICY_NAME.match(policy):
        return VersionListing()
    policy_dir = Path(root) / policy
    try:
        if not stat.S_ISDIR(os.lstat(policy_dir).st_mode):
            return VersionListing()
    except OSError:
        return VersionListing()
    versions, ignored = [], []
    for entry in sorted(_real_directories(policy_dir) or [], key=lambda e: e.name):
        if entry.name.startswith(STAGING_PREFIX):
            continue  # a publication in progress (or one that crashed): never a version
        reason = _why_not_a_version(entry)
        if reason is None:
            versions.append(int(entry.name))
        else:
            ignored.append((printable_name(entry.name), reason))
    return VersionListing(sorted(versions), ignored)


def list_versions(root: Path, policy: str) -> list[int]:
    """Returns the published version numbers of a policy, ascending."""
    return scan_versions(root, policy).versions


def version_path(root: Path, policy: str, version: int) -> Path:
    return Path(root) / policy / str(version)


def sha256_file(path: Path) -> str:
    """Returns the sha256 hex digest of a file, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _highest_published(root: Path, policy: str) -> int:
    """Returns the highest version number recorded as published; 0 if none is (or it is unreadable)."""
    try:
        text = (root / HIGHEST_DIR / policy).read_text()[:20].strip()
    except OSError:
        return 0
    return int(text) if text.isascii() and text.isdigit() else 0


def _record_highest(root: Path, policy: str, version: int) -> None:
    """Raises the recorded high-water mark to `version` (never lowers it: publishers may race)."""
    if version <= _highest_published(root, policy):
        return
    directory = root / HIGHEST_DIR
    temporary = directory / f".{policy}.{uuid.uuid4().hex}"
    try:
        directory.mkdir(exist_ok=True)
        temporary.write_text(str(version))
        os.replace(temporary, directory / policy)
    except OSError:  # a read-only or full root: numbering falls back to what is on disk
        temporary.unlink(missing_ok=True)


def publish_version(
    root: Path,
    policy: str,
    write_model_files: Callable[[Path], None],
    manifest_fields: dict,
) -> PublishedVersion:
    """Publishes a new version and returns it; its number is one above the highest existing.

    `write_model_files(staging_dir)` writes actor.keras and critic.keras into the staging
    directory, their serving forms (actor.onnx, critic.onnx) where the policy has them,
    and a rendered episode (episode.gif) where there is one; this function hashes them all, validates the manifest (schema 2), writes it, and
    renames the directory into place. Any failure removes the staging directory, so nothing
    half-made is left.
    """
    check_policy_name(policy)
    policy_dir = Path(root) / policy
    policy_dir.mkdir(parents=True, exist_ok=True)
    staging = policy_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        write_model_files(staging)
        files = {}
        for name in MODEL_FILES:
            file = staging / name
            if not file.is_file() or file.is_symlink():
                raise ArtifactError(f"the trainer did not write {name} as a regular file")
            files[name] = sha256_file(file)
        for name in OPTIONAL_FILES:
            if (staging / name).is_file() and not (staging / name).is_symlink():
                files[name] = sha256_file(staging / name)
        taken = _highest_published(Path(root), policy)
        while True:
            version = max(list_versions(root, policy) + [taken]) + 1
            manifest = Manifest.model_validate(
                {**manifest_fields, "schema_version": SCHEMA_VERSION, "policy": policy,
                 "version": version, "files": files}
            )
            _write_durably(staging / MANIFEST_FILE, manifest.model_dump_json(indent=2).encode())
            _fsync_dir(staging)
            target = version_path(root, policy, version)
            try:
                # rename(2) onto an existing non-empty directory fails, so a concurrent
                # publisher that took this number first makes us retry with the next one.
                # An entry that is not a version (a symlink or a file named 5) also takes it.
                os.rename(staging, target)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR) and os.path.lexists(target):
                    taken = version
                    continue
                raise
            _fsync_dir(policy_dir)
            _record_highest(Path(root), policy, version)
            return PublishedVersion(policy, version, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
