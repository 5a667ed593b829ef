"""The trainer as users run it: `python -m trainer ...` in a real process."""

import os
import resource
import select
import signal
import subprocess
import sys
import time

import pytest

from policy_artifacts import Manifest, list_versions
from tests.processes import run_trainer
from tests.timing import seconds
from trainer.cli import main


def test_cli_trains_and_publishes_numbered_versions(trained_lake, tmp_path):
    # The first run is the session's trained lake: `--map 4x4 --seed 0` into an empty root.
    assert "published frozenlake-4x4 version 1" in trained_lake.runs["lake"].stdout
    root = trained_lake.copy_to(tmp_path / "artifacts")
    second = run_trainer("--map", "4x4", "--seed", "1", "--artifact-root", str(root), "--quiet")
    assert "version 2" in second.stdout
    assert list_versions(root, "frozenlake-4x4") == [1, 2]
    manifest = Manifest.model_validate_json((root / "frozenlake-4x4" / "1" / "manifest.json").read_text())
    assert manifest.schema_version == 2 and manifest.seed == 0
    assert (manifest.evaluation.metric, manifest.evaluation.value, manifest.evaluation.best) == ("success_rate", 1.0, 1.0)
    assert manifest.evaluation.success_rate == 1.0 and manifest.evaluation.sampled_value >= 0.9
    assert manifest.env.id == "FrozenLake-v1" and manifest.env.max_episode_steps == 100
    assert manifest.env.kwargs == {"map_name": "4x4", "is_slippery": False}
    assert manifest.observation_space.kind == "discrete" and manifest.observation_space.n == 16
    assert manifest.action_names == ["LEFT", "DOWN", "RIGHT", "UP"]
    assert manifest.layout.rows == ["SFFF", "FHFH", "FFFH", "HFFG"] and manifest.layout.terminal == "HG"
    assert manifest.hyperparameters["n_envs"] == 32
    assert manifest.training.curve[-1][1] == 1.0


def test_taxi_publishes_its_spaces_names_and_an_exact_expected_return(trained_taxi_and_cartpole):
    # `--env Taxi-v4 --seed 0 --budget 2000`, run once for the session.
    result, root = trained_taxi_and_cartpole.runs["taxi"], trained_taxi_and_cartpole.root
    assert result.returncode == 0, result.stderr
    assert "published taxi version 1" in result.stdout and "greedy expected return" in result.stdout
    manifest = Manifest.model_validate_json((root / "taxi" / "1" / "manifest.json").read_text())
    assert manifest.env.id == "Taxi-v4" and manifest.env.max_episode_steps == 200
    assert manifest.observation_space.n == 500 and manifest.action_space.n == 6
    assert manifest.action_names == ["SOUTH", "NORTH", "EAST", "WEST", "PICKUP", "DROPOFF"]
    assert manifest.layout is None  # 500 states are not 500 cells
    evaluation = manifest.evaluation
    assert evaluation.metric == "expected_return" and 7.0 < evaluation.best < 9.0
    assert evaluation.value < evaluation.best and evaluation.sampled_value is not None
    assert manifest.training.stopped_because == "budget"


def test_cartpole_publishes_a_box_space_and_a_monte_carlo_evaluation(trained_taxi_and_cartpole):
    # `--env CartPole-v1 --seed 0 --budget 1000 --eval-episodes 5`, run once for the session.
    result, root = trained_taxi_and_cartpole.runs["cartpole"], trained_taxi_and_cartpole.root
    assert result.returncode == 0, result.stderr
    assert "published cartpole version 1" in result.stdout
    manifest = Manifest.model_validate_json((root / "cartpole" / "1" / "manifest.json").read_text())
    space = manifest.observation_space
    assert (space.kind, space.shape, space.dtype) == ("box", [4], "float32")
    assert space.low[1] is None and space.high[0] == pytest.approx(4.8)  # unbounded velocity, bounded position
    assert manifest.action_names == ["LEFT", "RIGHT"] and manifest.env.max_episode_steps == 500
    evaluation = manifest.evaluation
    assert (evaluation.metric, evaluation.best, evaluation.episodes) == ("mean_return", 475.0, 5)
    assert evaluation.stderr is not None and "Monte Carlo" in evaluation.method


@pytest.mark.parametrize(
    "args, message",
    [
        (["--desc", "SHHG"], "cannot be reached"),
        (["--desc", "SFF,FG"], "same length"),
        (["--n-envs", "0"], "--n-envs must be between 1 and"),
        (["--policy", "Bad Name!"], "invalid policy name"),
        (["--map", "9x9"], "invalid choice"),
        # Each of these tracebacked, trained silently on other settings, or ran unbounded before.
        (["--seed", "-1"], "--seed must be between 0 and"),
        (["--seed", str(2**40)], "--seed must be between 0 and"),
        (["--random-map", "4", "--map-seed", "-5"], "--map-seed must be between 0 and"),
        (["--random-map", "4", "--map-seed", str(2**40)], "--map-seed must be between 0 and"),
        (["--actor-learning-rate", "nan"], "must be a finite number"),
        (["--critic-learning-rate", "inf"], "must be a finite number"),
        (["--gamma=-inf"], "must be a finite number"),
        (["--actor-learning-rate", "0"], "--actor-learning-rate must be above 0"),
        (["--reward-scale", "nan"], "must be a finite number"),
        (["--desc", ""], "the map is empty"),
        (["--policy", ""], "invalid policy name ''"),
        (["--random-map", "0"], "--random-map must be between 2 and"),
        (["--max-episode-steps", "1000000000"], "--max-episode-steps must be between 1 and 100000"),
        (["--max-episode-steps", "0"], "--max-episode-steps must be between 1 and 100000"),
        (["--env", "NoSuchEnv-v0"], "unknown environment 'NoSuchEnv-v0'"),
        (["--env", "tests.trainer.custom_env:Dials-v0"], "only Discrete actions starting at 0 and float Box actions"),
        (["--env", "Pendulum-v1", "--env-kwargs", '{"g": 1e999}'], "numbers must be finite"),
        (["--env-kwargs", '{"a": ' + "[" * 20000 + "]" * 20000 + "}"], "nested too deeply"),
        (["--env", "Pendulum-v1", "--env-kwargs", '{"g": "x"}'], "could not make Pendulum-v1 with {'g': 'x'}: TypeError"),
        (["--env", "Taxi-v4", "--normalize-observations"], "--normalize-observations is for Box observations"),
        (["--env", "Taxi-v4", "--slippery"], "--slippery applies only to FrozenLake-v1"),
        (["--env", "CartPole-v1", "--hidden-layers", "0"], "--hidden-layers must be between 1 and"),
        (["--env-kwargs", "[1]"], "--env-kwargs: must be a JSON object"),
        (["--env-kwargs", "{is_slippery: true}"], "--env-kwargs: not valid JSON"),
        (["--env-kwargs", '{"success_rate": NaN}'], "NaN is not JSON"),
        (["--env", "CartPole-v1", "--env-kwargs", '{"bogus": 1}'], "could not make CartPole-v1 with {'bogus': 1}"),
        (["--env-kwargs", '{"max_episode_steps": 5}'], "use --max-episode-steps"),
        (["--slippery", "--env-kwargs", '{"is_slippery": true}'], "--slippery and 'is_slippery' in --env-kwargs"),
        (["--env", "no_such_module:Thing-v0"], "could not import 'no_such_module' for no_such_module:Thing-v0"),
        (["--env", "tests.trainer.custom_env:NoSuchEnv-v0"], "unknown environment 'tests.trainer.custom_env:NoSuchEnv-v0'"),
        (["--target-return", "0.5"], "--target-return is for Box-observation envs"),
        (["--env", "CartPole-v1", "--state-dependent-noise"], "(gSDE) needs Box actions"),
        (["--env", "tests.trainer.custom_env:HalfPrecisionPush-v0"], "float16 Box actions: only float32/float64"),
        (["--env", "Pendulum-v1", "--optimizer", "sgd"], "argument --optimizer: invalid choice: 'sgd'"),
        (["--env", "Pendulum-v1", "--sde-sample-freq", "-2"], "--sde-sample-freq must be between -1 and"),
        (["--env", "Pendulum-v1", "--learning-rate-final", "1.5"], "--learning-rate-final must be between 0.0 and 1.0"),
        (["--env", "Pendulum-v1", "--log-std-init", "9"], "--log-std-init must be between -5.0 and 2.0"),
        (["--env", "Pendulum-v1", "--max-grad-norm=-1"], "--max-grad-norm must be between 0.0 and"),
    ],
)
def test_mistakes_exit_non_zero_with_one_clear_line(tmp_path, capsys, args, message):
    # In-process: every check runs before TensorFlow is imported, so this is what a user sees.
    try:
        status = main([*args, "--artifact-root", str(tmp_path), "--quiet"])
    except SystemExit as exit:  # argparse's own refusals
        status = exit.code
    stderr = capsys.readouterr().err
    assert status == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert list(tmp_path.iterdir()) == []  # nothing trained, nothing published


def test_a_mistake_in_a_real_process_is_one_line_without_traceback(tmp_path):
    result = run_trainer("--actor-learning-rate", "nan", "--artifact-root", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: argument --actor-learning-rate: must be a finite number")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("args", [["--no-such-flag"], ["--n-envs", "many"], ["--map"]])
def test_a_bad_flag_is_one_line_pointing_to_help_not_the_whole_usage(tmp_path, args):
    result = run_trainer(*args, "--artifact-root", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "see --help" in result.stderr
    assert "usage:" not in result.stderr


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

    # A short run: what is tested is the publishing after it.
    result = run_trainer("--map", "4x4", "--seed", "0", "--budget", "2000", "--quiet", "--artifact-root", str(tmp_path),
                         preexec_fn=limit_file_size)
    assert result.returncode == 1
    assert "could not publish" in result.stderr and "File too large" in result.stderr
    assert "Traceback" not in result.stderr
    assert list_versions(tmp_path, "frozenlake-4x4") == []
    assert [p.name for p in tmp_path.rglob("*")] == ["frozenlake-4x4"]  # no staging directory left


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_training_publishes_nothing(tmp_path, start_process, signum):
    process = start_process(
        [sys.executable, "-m", "trainer", "--map", "8x8", "--slippery", "--budget", "100000000",
         "--target", "1.0", "--artifact-root", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Wait until training has really started (the progress bar shows env steps).
    deadline = time.monotonic() + seconds(120)
    seen = ""
    while time.monotonic() < deadline and "episodes=" not in seen and process.poll() is None:
        if select.select([process.stderr], [], [], 1.0)[0]:
            seen += os.read(process.stderr.fileno(), 4096).decode(errors="replace")
    assert "episodes=" in seen, seen
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=seconds(60))
    assert process.returncode == 130
    assert "nothing was published" in stderr
    assert list_versions(tmp_path, "frozenlake-8x8-slippery") == []
    assert [p.name for p in tmp_path.rglob("*")] == []  # not even a staging directory


def test_if_missing_trains_only_when_the_policy_has_no_version(trained_lake, tmp_path):
    # The session's trained lake ran with --if-missing into an empty root: it trained.
    assert "version 1" in trained_lake.runs["lake"].stdout and "--if-missing" in trained_lake.runs["lake"].args
    root = trained_lake.copy_to(tmp_path / "artifacts")
    second = run_trainer("--artifact-root", str(root), "--seed", "0", "--quiet", "--if-missing")
    assert second.returncode == 0 and "not training" in second.stdout
    assert list_versions(root, "frozenlake-4x4") == [1]


def test_policy_train_without_the_train_extra_says_what_to_install(monkeypatch, capsys):
    from trainer import command

    for name in [m for m in sys.modules if m == "gymnasium" or m.startswith(("gymnasium.", "trainer.tasks", "trainer.cli"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "gymnasium", None)  # importing it now raises ModuleNotFoundError
    assert command.main() == 2
    assert capsys.readouterr().err == "error: policy-train needs gymnasium: pip install 'keras-policy-server[train]'\n"
