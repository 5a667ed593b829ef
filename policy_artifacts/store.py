"""Where policy versions live on disk, how they are published and how they are verified.

Layout: ``ARTIFACT_ROOT/<policy>/<version>/{actor.keras, critic.keras, manifest.json}``.
A version is staged in a hidden directory beside the versions and renamed into place,
so readers never see a half-written version and two publishers never share a number.
This module never imports Keras; `policy_artifacts.loading` does, when asked to.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydantic import ValidationError

from policy_artifacts.manifest import (
    MANIFEST_FILE,
    MODEL_FILES,
    SCHEMA_VERSION,
    Manifest,
)

POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
STAGING_PREFIX = ".staging-"


class ArtifactError(Exception):
    """A policy version is missing, incomplete, tampered with or does not fit its manifest."""


@dataclass(frozen=True)
class PublishedVersion:
    policy: str
    version: int
    path: Path


def check_policy_name(name: str) -> str:
    """Returns the name if it is a safe directory name for a policy, else raises ArtifactError."""
    if not POLICY_NAME.match(name):
        raise ArtifactError(
            f"invalid policy name {name!r}: use 1-64 of a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit"
        )
    return name


def list_policies(root: Path) -> list[str]:
    """Returns the policy names under the artifact root, sorted; [] if the root is missing."""
    try:
        entries = list(Path(root).iterdir())
    except FileNotFoundError:
        return []
    return sorted(e.name for e in entries if e.is_dir() and POLICY_NAME.match(e.name))


def list_versions(root: Path, policy: str) -> list[int]:
    """Returns the published version numbers of a policy, ascending; hidden staging dirs excluded."""
    try:
        entries = list((Path(root) / policy).iterdir())
    except FileNotFoundError:
        return []
    return sorted(int(e.name) for e in entries if e.name.isdigit() and e.is_dir())


def version_path(root: Path, policy: str, version: int) -> Path:
    return Path(root) / policy / str(version)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def publish_version(
    root: Path,
    policy: str,
    write_model_files: Callable[[Path], None],
    manifest_fields: dict,
) -> PublishedVersion:
    """Publishes a new version and returns it; its number is one above the highest existing.

    `write_model_files(staging_dir)` writes actor.keras and critic.keras into the staging
    directory; this function hashes them, writes the manifest, and renames the directory
    into place. Any failure removes the staging directory, so nothing half-made is left.
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
            if not file.is_file():
                raise ArtifactError(f"the trainer did not write {name}")
            files[name] = sha256_bytes(file.read_bytes())
        while True:
            version = max(list_versions(root, policy), default=0) + 1
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
                os.rename(staging, target)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and target.exists():
                    continue
                raise
            _fsync_dir(policy_dir)
            return PublishedVersion(policy, version, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@dataclass(frozen=True)
class VerifiedVersion:
    """A version whose manifest parsed and whose files matched their hashes, held in memory."""

    manifest: Manifest
    model_bytes: dict[str, bytes]


def read_verified(version_dir: Path) -> VerifiedVersion:
    """Returns the manifest and file contents of a version after checking every hash.

    The bytes returned are the bytes hashed, so a file swapped after the check cannot be
    loaded by mistake. Raises ArtifactError naming what is wrong.
    """
    version_dir = Path(version_dir)
    try:
        raw = (version_dir / MANIFEST_FILE).read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{version_dir}: no {MANIFEST_FILE}") from None
    except OSError as exc:
        raise ArtifactError(f"{version_dir}: cannot read {MANIFEST_FILE}: {exc.strerror}") from None
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{version_dir}: {MANIFEST_FILE} is not valid JSON: {exc}") from None
    if isinstance(document, dict) and document.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(
            f"{version_dir}: schema_version {document.get('schema_version')!r} is not "
            f"supported (expected {SCHEMA_VERSION})"
        )
    try:
        manifest = Manifest.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "manifest"
        raise ArtifactError(f"{version_dir}: bad manifest at {where}: {first['msg']}") from None
    if version_dir.name.isdigit() and manifest.version != int(version_dir.name):
        raise ArtifactError(
            f"{version_dir}: manifest says version {manifest.version}, directory says {version_dir.name}"
        )
    missing = [name for name in MODEL_FILES if name not in manifest.files]
    if missing:
        raise ArtifactError(f"{version_dir}: manifest lists no hash for {', '.join(missing)}")
    model_bytes = {}
    for name in MODEL_FILES:
        try:
            data = (version_dir / name).read_bytes()
        except FileNotFoundError:
            raise ArtifactError(f"{version_dir}: {name} is missing") from None
        except OSError as exc:
            raise ArtifactError(f"{version_dir}: cannot read {name}: {exc.strerror}") from None
        if sha256_bytes(data) != manifest.files[name]:
            raise ArtifactError(f"{version_dir}: {name} does not match its sha256 in the manifest")
        model_bytes[name] = data
    return VerifiedVersion(manifest, model_bytes)
