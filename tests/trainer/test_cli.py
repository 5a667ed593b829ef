"""The trainer as users run it: `python -m trainer ...` in a real process."""

import json
import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from policy_artifacts import list_versions
from policy_artifacts.loading import load_tables


def run_trainer(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args], capture_output=True, text=True, timeout=300, **kwargs
    )


def test_cli_trains_and_publishes_numbered_versions(tmp_path):
    first = run_trainer("--map", "4x4", "--seed", "0", "--artifact-root", str(tmp_path), "--quiet")
    assert first.returncode == 0, first.stderr
    assert "published frozenlake-4x4 version 1" in first.stdout
    second = run_trainer("--map", "4x4", "--seed", "1", "--artifact-root", str(tmp_path), "--quiet")
    assert "version 2" in second.stdout
    assert list_versions(tmp_path, "frozenlake-4x4") == [1, 2]
    manifest = json.loads((tmp_path / "frozenlake-4x4" / "1" / "manifest.json").read_text())
    assert manifest["seed"] == 0
    assert manifest["evaluation"]["success_rate"] == 1.0
    assert manifest["env"]["kwargs"] == {"map_name": "4x4", "is_slippery": False, "max_episode_steps": 100}
    assert manifest["hyperparameters"]["n_envs"] == 32
    assert load_tables(tmp_path / "frozenlake-4x4" / "1").probabilities.shape == (16, 4)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--desc", "SHHG"], "cannot be reached"),
        (["--desc", "SFF,FG"], "same length"),
        (["--n-envs", "0"], "--n-envs must be at least 1"),
        (["--policy", "Bad Name!"], "invalid policy name"),
        (["--map", "9x9"], "invalid choice"),
    ],
)
def test_mistakes_exit_non_zero_with_one_clear_line(tmp_path, args, message):
    result = run_trainer(*args, "--artifact-root", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_artifact_root_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_trainer("--artifact-root", str(blocker / "root"))
    assert result.returncode == 1
    assert "is not writable" in result.stderr and "Traceback" not in result.stderr


def test_a_write_failure_while_publishing_is_a_clear_error_and_leaves_nothing(tmp_path):
    """A full volume, simulated without root: a file-size limit below the size of a .keras
    file makes the model writes fail (EFBIG, the same OSError path as ENOSPC) mid-publish."""

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    result = run_trainer("--map", "4x4", "--seed", "0", "--quiet", "--artifact-root", str(tmp_path),
                         preexec_fn=limit_file_size)
    assert result.returncode == 1
    assert "could not publish" in result.stderr and "File too large" in result.stderr
    assert "Traceback" not in result.stderr
    assert list_versions(tmp_path, "frozenlake-4x4") == []
    assert [p.name for p in tmp_path.rglob("*")] == ["frozenlake-4x4"]  # no staging directory left


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_training_publishes_nothing(tmp_path, signum):
    process = subprocess.Popen(
        [sys.executable, "-m", "trainer", "--map", "8x8", "--slippery", "--budget", "100000000",
         "--target", "1.0", "--artifact-root", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Wait until training has really started (the progress bar shows env steps).
    deadline = time.monotonic() + 120
    seen = ""
    while time.monotonic() < deadline and "episodes=" not in seen:
        seen += os.read(process.stderr.fileno(), 4096).decode(errors="replace")
    assert "episodes=" in seen
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "nothing was published" in stderr
    assert list_versions(tmp_path, "frozenlake-8x8-slippery") == []
    assert [p.name for p in tmp_path.rglob("*")] == []  # not even a staging directory


def test_if_missing_trains_only_when_the_policy_has_no_version(tmp_path):
    first = run_trainer("--artifact-root", str(tmp_path), "--seed", "0", "--quiet", "--if-missing")
    assert "version 1" in first.stdout
    second = run_trainer("--artifact-root", str(tmp_path), "--seed", "0", "--quiet", "--if-missing")
    assert second.returncode == 0 and "not training" in second.stdout
    assert list_versions(tmp_path, "frozenlake-4x4") == [1]
