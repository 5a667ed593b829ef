"""Every file and archive is measured against its cap before it is read or unpacked, and
nothing Keras writes to temporary storage outlives a load."""

import hashlib
import io
import os
import time
import zipfile

import pytest

from policy_artifacts import ArtifactError, ArtifactLimits
from tests.artifacts.conftest import load, rewrite_manifest

GiB = 1 << 30
MiB = 1 << 20


def rebuild_archive(version, name, extra_members, corrupt=None):
    """Rewrites a version's .keras with extra members (deflated), re-hashed into the manifest.

    `corrupt` names a member whose stored bytes get one byte flipped (its CRC then fails).
    """
    path = version.path / name
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        for member, data in extra_members.items():
            method = zipfile.ZIP_STORED if member == corrupt else zipfile.ZIP_DEFLATED
            target.writestr(member, data, compress_type=method)
    data = bytearray(buffer.getvalue())
    if corrupt:
        info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(corrupt)
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        data[start] ^= 0xFF
    path.write_bytes(bytes(data))
    rewrite_manifest(version.path, files={**load_files(version), name: hashlib.sha256(data).hexdigest()})


def load_files(version):
    import json

    return json.loads((version.path / "manifest.json").read_text())["files"]


def make_sparse(path, size):
    path.unlink()
    with open(path, "wb") as f:
        f.truncate(size)


def test_an_oversized_manifest_is_refused_before_it_is_read(published):
    version, _, _ = published
    make_sparse(version.path / "manifest.json", 2 * GiB)
    started = time.monotonic()
    with pytest.raises(ArtifactError, match=f"manifest.json is {2 * GiB} bytes, over the limit of {MiB}"):
        load(version)
    assert time.monotonic() - started < 1  # reading 2 GiB would take longer than this


def test_an_oversized_model_file_is_refused_before_it_is_read_or_hashed(published):
    version, _, _ = published
    make_sparse(version.path / "actor.keras", 3 * GiB)
    started = time.monotonic()
    with pytest.raises(ArtifactError, match=f"actor.keras is {3 * GiB} bytes, over the limit of {64 * MiB}"):
        load(version)
    assert time.monotonic() - started < 1


def test_the_model_cap_is_a_setting(published):
    version, _, _ = published
    size = (version.path / "actor.keras").stat().st_size
    with pytest.raises(ArtifactError, match=f"actor.keras is {size} bytes, over the limit of {size - 1}"):
        load(version, ArtifactLimits(max_model_bytes=size - 1))


def test_a_member_that_expands_past_its_cap_is_refused_before_keras_and_leaves_nothing(published, private_tmp):
    version, _, _ = published
    rebuild_archive(version, "actor.keras", {"assets/bomb": bytes(3 * MiB)})  # deflates to a few KB
    assert (version.path / "actor.keras").stat().st_size < MiB
    with pytest.raises(ArtifactError, match=r"member 'assets/bomb' expands to 3145728 bytes, over the limit of 2097152"):
        load(version, ArtifactLimits(max_member_bytes=2 * MiB))
    assert list(private_tmp.iterdir()) == []


def test_members_that_together_expand_past_the_total_cap_are_refused(published):
    version, _, _ = published
    rebuild_archive(version, "critic.keras", {f"assets/part{i}": bytes(MiB + MiB // 2) for i in range(3)})
    with pytest.raises(ArtifactError, match="critic.keras expands to .* over the limit of 4194304"):
        load(version, ArtifactLimits(max_member_bytes=2 * MiB, max_uncompressed_bytes=4 * MiB))


def test_an_archive_of_too_many_members_is_refused(published):
    version, _, _ = published
    rebuild_archive(version, "actor.keras", {f"assets/{i}": b"" for i in range(100)})
    with pytest.raises(ArtifactError, match="actor.keras has 103 members, over the limit of 64"):
        load(version)


def test_an_archive_with_a_member_no_allowed_model_has_is_refused_and_leaves_no_temporary_files(
        published, private_tmp):
    # Keras would unpack such an archive into a temporary directory of its own, and a member
    # that fails its CRC would stop it half-way; the reader refuses the member by its name.
    version, _, _ = published
    rebuild_archive(version, "actor.keras", {"assets/data.bin": bytes(4096)}, corrupt="assets/data.bin")
    with pytest.raises(ArtifactError, match="actor.keras: has a member 'assets/data.bin'"):
        load(version)
    assert list(private_tmp.iterdir()) == []


def test_a_successful_load_leaves_no_temporary_files_and_restores_tempfile(published, private_tmp):
    import tempfile

    version, _, _ = published
    load(version)
    assert list(private_tmp.iterdir()) == []
    assert tempfile.gettempdir() == str(private_tmp) and os.environ["TMPDIR"] == str(private_tmp)


def test_a_huge_state_space_is_refused_before_keras_is_asked(published):
    version, _, _ = published
    rewrite_manifest(version.path, observation_space={"kind": "discrete", "n": 10_000_000}, layout=None)
    with pytest.raises(ArtifactError, match="10000000 states, over the limit of 65536"):
        load(version)
    with pytest.raises(ArtifactError, match="10000000 states x 4 actions = 40000000 table cells, over the limit"):
        load(version, ArtifactLimits(max_states=10_000_000))


@pytest.mark.parametrize("field", ["max_model_bytes", "max_members", "max_table_cells"])
def test_limits_must_be_positive_integers(field):
    with pytest.raises(ValueError, match=field):
        ArtifactLimits(**{field: 0})


def test_a_config_declaring_more_weights_than_the_archive_holds_is_refused_before_keras_builds_it(published):
    # Keras allocates a layer's weights when it builds the model from config.json, before
    # it reads model.weights.h5: a Dense layer of two billion units would take 128 GB.
    version, _, _ = published
    path = version.path / "actor.keras"
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    members["config.json"] = members["config.json"].replace(b'"units": 8', b'"units": 2000000000')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for member, data in members.items():
            target.writestr(member, data)
    path.write_bytes(buffer.getvalue())
    rewrite_manifest(version.path, files={**load_files(version), "actor.keras": hashlib.sha256(buffer.getvalue()).hexdigest()})
    with pytest.raises(ArtifactError, match=r"actor.keras declares about 340000000\d\d weights"):
        load(version)
