"""The gate every version passes before anything of it is loaded: paths, sizes, hashes, archives.

`read_verified` opens the version directory below the artifact root one component at a
time with O_NOFOLLOW, so no symbolic link is followed anywhere below the root (the root
itself may be a link or a mount), and each file is examined with lstat and, once opened
with O_NOFOLLOW | O_NONBLOCK, with fstat: only regular files are read, so a FIFO or a
device never blocks or feeds the loader. Each size is checked against its cap before a
byte is read, and files are read and hashed in chunks, never past the cap. A `.keras`
archive's member count and declared uncompressed sizes are capped before Keras opens it
(Python's zipfile, which Keras reads with, never yields more than a member declares), and
so are the weights its config declares (Keras allocates those before reading any).
The bytes returned are the bytes hashed, so a file swapped after the check cannot be
loaded by mistake.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from policy_artifacts.manifest import (
    EPISODE_FILE, MANIFEST_FILE, MODEL_FILES, SERVING_FILES, DiscreteSpace, Manifest, parse_manifest,
)
from policy_artifacts.store import ArtifactError, check_policy_name, describe_kind, first_line

MiB = 1 << 20
CHUNK_BYTES = 1 * MiB
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
MAX_MANIFEST_DEPTH = 32  # pydantic refuses to serialise far less deep than json parses
_EOCD_SIGNATURE = b"PK\x05\x06"
_EOCD_BYTES = 22
GIF_SIGNATURES = (b"GIF87a", b"GIF89a")


@dataclass(frozen=True)
class ArtifactLimits:
    """The caps the gate applies to every version; the defaults are safe for a small service."""

    max_model_bytes: int = 64 * MiB  # largest model file (.keras, or its .onnx serving form)
    max_episode_bytes: int = 2 * MiB  # largest rendered episode (episode.gif)
    max_manifest_bytes: int = 1 * MiB  # largest manifest.json
    max_uncompressed_bytes: int = 256 * MiB  # largest total declared uncompressed size of a .keras archive
    max_member_bytes: int = 128 * MiB  # largest declared uncompressed size of one archive member
    max_members: int = 64  # most members in one .keras archive
    max_table_cells: int = 4_000_000  # largest observation_space.n * action_space.n tabulated
    max_states: int = 65_536  # largest observation_space.n tabulated (one-hot work grows as n squared)

    def __post_init__(self):
        for name, value in vars(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ArtifactLimits.{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class VerifiedVersion:
    """A version whose manifest parsed and fits the limits, and whose files matched their hashes."""

    manifest: Manifest
    model_bytes: dict[str, bytes]  # actor.keras and critic.keras
    serving_bytes: dict[str, bytes]  # their serving forms (actor.onnx, critic.onnx) where published
    episode_gif: bytes | None  # the rendered greedy episode, where published
    where: str  # "<policy> version <n>", for messages


def _open_directory(parent_fd: int, name: str, where: str) -> int:
    """Returns a descriptor of a real directory `name` under `parent_fd`; raises ArtifactError."""
    try:
        mode = os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        raise ArtifactError(f"{where}: does not exist") from None
    except OSError as exc:
        raise ArtifactError(f"{where}: cannot be examined: {exc.strerror}") from None
    if not stat.S_ISDIR(mode):
        raise ArtifactError(f"{where}: is {describe_kind(mode)}, not a directory")
    try:
        return os.open(name, _DIRECTORY_FLAGS, dir_fd=parent_fd)
    except OSError as exc:  # replaced by a link or a file since the lstat
        raise ArtifactError(f"{where}: cannot be opened as a directory: {exc.strerror}") from None


def _read_regular_file(dir_fd: int, name: str, cap: int, where: str) -> tuple[bytes, str]:
    """Returns (contents, sha256 hex) of a regular file of at most `cap` bytes, read in chunks."""
    try:
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise ArtifactError(f"{where}: {name} is missing") from None
    except OSError as exc:
        raise ArtifactError(f"{where}: cannot examine {name}: {exc.strerror}") from None
    if not stat.S_ISREG(before.st_mode):
        raise ArtifactError(f"{where}: {name} is {describe_kind(before.st_mode)}, not a regular file")
    if before.st_size > cap:
        raise ArtifactError(f"{where}: {name} is {before.st_size} bytes, over the limit of {cap}")
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise ArtifactError(f"{where}: cannot open {name}: {exc.strerror}") from None
    with os.fdopen(fd, "rb", buffering=0) as f:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino):
            raise ArtifactError(f"{where}: {name} was replaced while being opened")
        if opened.st_size > cap:
            raise ArtifactError(f"{where}: {name} is {opened.st_size} bytes, over the limit of {cap}")
        digest, data = hashlib.sha256(), bytearray()
        while chunk := f.read(CHUNK_BYTES):
            if len(data) + len(chunk) > cap:  # it grew since fstat
                raise ArtifactError(f"{where}: {name} grew past the limit of {cap} bytes while being read")
            digest.update(chunk)
            data += chunk
    return bytes(data), digest.hexdigest()


def _nesting_depth(document) -> int:
    """Returns how deeply lists and objects nest in a parsed JSON document (a scalar is 0)."""
    deepest, pending = 0, [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth + 1)
            pending.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


def _parse_manifest(raw: bytes, where: str) -> Manifest:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, huge integers, deep nesting
        raise ArtifactError(f"{where}: {MANIFEST_FILE} is not valid JSON: {exc}") from None
    if _nesting_depth(document) > MAX_MANIFEST_DEPTH:
        # It would load, then fail wherever the manifest is serialised again (the hand-off to workers).
        raise ArtifactError(f"{where}: {MANIFEST_FILE} nests deeper than {MAX_MANIFEST_DEPTH} levels")
    try:
        return parse_manifest(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(p) for p in first["loc"]) or "manifest"
        raise ArtifactError(f"{where}: bad manifest at {at}: {first['msg']}") from None
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(f"{where}: {exc}") from None


def check_manifest_fits(manifest: Manifest, policy: str, version: int, limits: ArtifactLimits, where: str) -> None:
    """Raises ArtifactError if the manifest disagrees with its place on disk or the limits."""
    if manifest.policy != policy or manifest.version != version:
        raise ArtifactError(
            f"{where}: manifest says {manifest.policy!r} version {manifest.version}, "
            f"the directory says {policy!r} version {version}"
        )
    missing = [name for name in MODEL_FILES if name not in manifest.files]
    if missing:
        raise ArtifactError(f"{where}: manifest lists no hash for {', '.join(missing)}")
    space = manifest.observation_space
    if isinstance(space, DiscreteSpace):
        if space.n > limits.max_states:
            raise ArtifactError(f"{where}: {space.n} states, over the limit of {limits.max_states}")
        cells = space.n * manifest.action_space.n
        if cells > limits.max_table_cells:
            raise ArtifactError(
                f"{where}: {space.n} states x {manifest.action_space.n} actions = {cells} table cells, "
                f"over the limit of {limits.max_table_cells}"
            )


def _declared_member_count(data: bytes) -> int | None:
    """Returns the member count in a zip's end-of-central-directory record, None if there is none."""
    tail = data[-(_EOCD_BYTES + 0xFFFF):]
    at = tail.rfind(_EOCD_SIGNATURE)
    if at < 0 or len(tail) - at < _EOCD_BYTES:
        return None
    return int.from_bytes(tail[at + 10:at + 12], "little")


def check_archive(data: bytes, name: str, limits: ArtifactLimits, where: str) -> None:
    """Raises ArtifactError unless `data` is a zip within the member count and size caps."""
    # The central directory record's count is checked before zipfile builds an object
    # per member, so a 64 MiB archive of a million empty members costs nothing.
    declared = _declared_member_count(data)
    if declared is None:
        raise ArtifactError(f"{where}: {name} is not a .keras (zip) archive")
    if declared > limits.max_members:
        raise ArtifactError(f"{where}: {name} has {declared} members, over the limit of {limits.max_members}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except Exception as exc:  # zipfile raises many types for hostile bytes; all mean the same here
        raise ArtifactError(f"{where}: {name} is not a readable .keras (zip) archive: {first_line(exc)}") from None
    if len(members) > limits.max_members:
        raise ArtifactError(f"{where}: {name} has {len(members)} members, over the limit of {limits.max_members}")
    total = 0
    for member in members:
        if member.file_size > limits.max_member_bytes:
            raise ArtifactError(
                f"{where}: {name} member {member.filename[:80]!r} expands to {member.file_size} bytes, "
                f"over the limit of {limits.max_member_bytes}"
            )
        total += member.file_size
    if total > limits.max_uncompressed_bytes:
        raise ArtifactError(
            f"{where}: {name} expands to {total} bytes, over the limit of {limits.max_uncompressed_bytes}"
        )


def _layer_configs(document) -> list[dict]:
    """Returns every serialised layer ({"class_name", "config", ...}) anywhere in a Keras config."""
    layers, pending = [], [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if isinstance(value.get("class_name"), str) and isinstance(value.get("config"), dict):
                layers.append(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return layers


def _size(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def declared_weights(config: dict) -> int:
    """Returns a bound on the weights the Dense and Embedding layers of a Keras model config
    create when built (a Dense layer's input width is its build_config's, else the widest
    width the config names anywhere)."""
    layers = _layer_configs(config)
    widths = [1]
    for layer in layers:
        settings = layer["config"]
        widths += [_size(settings.get(key)) for key in ("units", "num_tokens", "input_dim", "output_dim")]
        for key in ("batch_shape", "shape"):
            if isinstance(settings.get(key), list):
                widths += [_size(d) for d in settings[key]]
    weights = 0
    for layer in layers:
        settings, build = layer["config"], layer.get("build_config")
        if layer["class_name"] == "Dense":
            shape = build.get("input_shape") if isinstance(build, dict) else None
            inputs = _size(shape[-1]) if isinstance(shape, list) and shape else 0
            units = _size(settings.get("units"))
            weights += (inputs or max(widths)) * units + units
        elif layer["class_name"] == "Embedding":
            weights += _size(settings.get("input_dim")) * _size(settings.get("output_dim"))
    return weights


def check_model_config(data: bytes, name: str, limits: ArtifactLimits, where: str) -> None:
    """Raises ArtifactError if the archive's config.json declares more weights than its
    weights member could hold: Keras allocates them when it builds the model, before it
    reads a single stored weight."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            config = json.loads(archive.read("config.json"))
    except KeyError:
        raise ArtifactError(f"{where}: {name} has no config.json") from None
    except Exception as exc:  # bad CRC, zlib.error, encryption, unknown compression, bad JSON...
        raise ArtifactError(f"{where}: {name} has an unreadable config.json: {first_line(exc)}") from None
    weights = declared_weights(config)
    if 4 * weights > limits.max_member_bytes:
        raise ArtifactError(
            f"{where}: {name} declares about {weights} weights, more than a member of "
            f"{limits.max_member_bytes} bytes can hold"
        )


def read_verified(root: Path, policy: str, version: int, limits: ArtifactLimits) -> VerifiedVersion:
    """Returns the manifest, model files and episode of a version after every check that needs no Keras.

    Raises ArtifactError naming what is wrong: a path that is not a real directory or
    regular file, a file over its cap, a manifest that does not parse or does not fit its
    directory and the limits, a hash mismatch, an archive over its caps, or an episode that
    is not a GIF.
    """
    check_policy_name(policy)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ArtifactError(f"{policy}: invalid version {version!r}")
    where = f"{policy} version {version}"
    with ExitStack() as fds:
        try:
            root_fd = os.open(Path(root), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise ArtifactError(f"artifact root {root}: cannot be opened: {exc.strerror}") from None
        fds.callback(os.close, root_fd)
        policy_fd = _open_directory(root_fd, policy, f"policy {policy}")
        fds.callback(os.close, policy_fd)
        version_fd = _open_directory(policy_fd, str(version), where)
        fds.callback(os.close, version_fd)

        raw, _ = _read_regular_file(version_fd, MANIFEST_FILE, limits.max_manifest_bytes, where)
        manifest = _parse_manifest(raw, where)
        check_manifest_fits(manifest, policy, version, limits, where)
        model_bytes, serving_bytes = {}, {}
        for name in MODEL_FILES:
            model_bytes[name] = _read_hashed(version_fd, name, manifest, limits.max_model_bytes, where)
            check_archive(model_bytes[name], name, limits, where)
            check_model_config(model_bytes[name], name, limits, where)
        for name in SERVING_FILES.values():
            if name in manifest.files:
                serving_bytes[name] = _read_hashed(version_fd, name, manifest, limits.max_model_bytes, where)
        episode = None
        if EPISODE_FILE in manifest.files:
            episode = _read_hashed(version_fd, EPISODE_FILE, manifest, limits.max_episode_bytes, where)
            if not episode.startswith(GIF_SIGNATURES):  # the service sends it as image/gif
                raise ArtifactError(f"{where}: {EPISODE_FILE} is not a GIF image")
    return VerifiedVersion(manifest, model_bytes, serving_bytes, episode, where)


def _read_hashed(version_fd: int, name: str, manifest: Manifest, cap: int, where: str) -> bytes:
    data, digest = _read_regular_file(version_fd, name, cap, where)
    if digest != manifest.files[name]:
        raise ArtifactError(f"{where}: {name} does not match its sha256 in the manifest")
    return data
