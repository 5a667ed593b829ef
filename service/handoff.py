"""The typed hand-off between the loader process and the workers.

The loader alone decides what is served; it publishes that decision as one `LoaderState`
document (`state.json`) plus one servable file per loaded version in the cache dir. The
workers validate the document with the same pydantic model and only look things up.

Files are written atomically (temporary name, then `os.replace`), so a worker reading at
any moment sees the old or the new state whole. A servable file is written before the
state that names it and deleted only once two published states in a row no longer name
it, so a worker that read the previous state can still open everything it names.
"""

from __future__ import annotations

import enum
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from policy_artifacts.loading import NetworkServable, TabularServable
from policy_artifacts.manifest import EPISODE_FILE, Manifest
from policy_client.schemas import VersionState  # the one set of version states, the API's

STATE_FILE = "state.json"
Servable = TabularServable | NetworkServable
SERVABLES_DIR = "servables"


class ServableKind(str, enum.Enum):
    TABLES = "tables"  # discrete observations: per-state probabilities and values (.npz)
    ONNX = "onnx"  # Box observations: actor and critic as ONNX models (.npz of two byte strings)


class VersionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = Field(ge=1)
    state: VersionState
    error: str | None = None
    manifest: Manifest | None = None
    servable: str | None = Field(None, description="File name under servables/ while it can be served.")
    kind: ServableKind | None = None
    episode: str | None = Field(None, description="File name under servables/ of its rendered episode, if any.")


class IgnoredEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    reason: str


class TrafficShare(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    version: int
    weight: float = Field(gt=0, description="Share of the requests that name no version, out of the total weight.")
    via: str = Field(description="The label or version number the setting named.")


class PolicyRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    served_version: int | None = Field(description="Decided by the loader: pinned, else newest loaded, else last good.")
    pinned_version: int | None = None
    labels: dict[str, int] = Field(default_factory=dict, description="Label -> loaded version it names now.")
    traffic: list[TrafficShare] = Field(default_factory=list, description="Split of unversioned requests, if any.")
    notes: list[str] = Field(default_factory=list, description="Labels or splits that could not be applied, and why.")
    versions: list[VersionRecord] = Field(description="Newest first; bounded by the loader.")
    ignored: list[IgnoredEntry] = Field(default_factory=list)

    def record(self, version: int) -> VersionRecord | None:
        return next((r for r in self.versions if r.version == version), None)


class LoaderState(BaseModel):
    model_config = ConfigDict(frozen=True)

    artifact_root_exists: bool
    updated_at: float
    policies: dict[str, PolicyRecord] = Field(default_factory=dict)


def _write_atomically(path: Path, write) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def servable_kind(servable: Servable) -> ServableKind:
    return ServableKind.ONNX if isinstance(servable, NetworkServable) else ServableKind.TABLES


def episode_file(servable_name: str) -> str:
    """Returns the name of the file beside a servable that holds its version's episode.gif."""
    return f"{servable_name.removesuffix('.npz')}.gif"


def write_servable(cache_dir: Path, name: str, servable: Servable) -> str:
    """Returns the file name (under servables/) the servable was written to: an .npz of its
    arrays (the ONNX models as byte arrays), read back whole by `read_servable`. The
    version's verified episode.gif, if any, is written beside it (`episode_file`) first."""
    if isinstance(servable, NetworkServable):
        arrays = {"actor": np.frombuffer(servable.actor_onnx, dtype=np.uint8),
                  "critic": np.frombuffer(servable.critic_onnx, dtype=np.uint8)}
    else:
        arrays = {"probabilities": servable.probabilities, "values": servable.values}
    directory = Path(cache_dir) / SERVABLES_DIR
    directory.mkdir(parents=True, exist_ok=True)
    if servable.episode_gif is not None:
        _write_atomically(directory / episode_file(name), lambda f: f.write(servable.episode_gif))
    _write_atomically(directory / name, lambda f: np.savez(f, **arrays))
    return name


def read_episode(cache_dir: Path, record: VersionRecord) -> bytes:
    """Returns the episode.gif a loaded version's record names, checked once more against
    the manifest's sha256 (the loader copied it after the gate verified it); raises OSError
    if it is missing or does not match."""
    data = (Path(cache_dir) / SERVABLES_DIR / record.episode).read_bytes()
    if hashlib.sha256(data).hexdigest() != record.manifest.files.get(EPISODE_FILE):
        raise OSError(f"{record.episode} does not match the manifest's sha256")
    return data


def read_servable(cache_dir: Path, record: VersionRecord) -> Servable:
    """Returns the servable a loaded version's record names, as the loader wrote it."""
    # allow_pickle stays off: these files hold plain arrays and bytes only.
    with np.load(Path(cache_dir) / SERVABLES_DIR / record.servable, allow_pickle=False) as data:
        if record.kind is ServableKind.ONNX:
            return NetworkServable(record.manifest, actor_onnx=data["actor"].tobytes(),
                                   critic_onnx=data["critic"].tobytes())
        return TabularServable(record.manifest, probabilities=data["probabilities"], values=data["values"])


def delete_servables_except(cache_dir: Path, keep: set[str]) -> list[str]:
    """Deletes servable files not in `keep`, and episodes beside none of them; returns the names deleted."""
    keep = keep | {episode_file(name) for name in keep}
    directory = Path(cache_dir) / SERVABLES_DIR
    deleted = []
    for entry in directory.glob("*") if directory.is_dir() else []:
        if entry.name not in keep and not entry.name.startswith("."):
            entry.unlink(missing_ok=True)
            deleted.append(entry.name)
    return deleted


def write_state(cache_dir: Path, state: LoaderState) -> None:
    Path(cache_dir).mkdir(parents=True, exist_ok=True)  # a /tmp cleaner may have removed it
    _write_atomically(Path(cache_dir) / STATE_FILE, lambda f: f.write(state.model_dump_json().encode()))


def state_stamp(cache_dir: Path) -> tuple[int, int, int] | None:
    """Returns a cheap fingerprint of the state file, None if there is none yet."""
    try:
        stat = (Path(cache_dir) / STATE_FILE).stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def read_state(cache_dir: Path) -> LoaderState | None:
    try:
        raw = (Path(cache_dir) / STATE_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return LoaderState.model_validate_json(raw)
