"""For the whole suite: every wait scaled to the machine (tests/timing.py), every process a
test starts accounted for (tests/processes.py), and the policies that several packages'
tests train with the real trainer CLI, trained once."""

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tests import processes, timing
from tests.services import POLICY, RunningService


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    processes.mark_this_run()
    # The per-test limit of pytest-timeout (pyproject) is a wait like any other: what it
    # says is the limit at the default scale. `--timeout` or PYTEST_TIMEOUT still win.
    if config.getvalue("timeout") is None and "PYTEST_TIMEOUT" not in os.environ:
        ini = float(config.getini("timeout") or 0)
        config.option.timeout = ini * timing.SCALE / timing.DEFAULT_SCALE


def pytest_sessionfinish(session, exitstatus):
    """Fails the run if any process a test started is still alive (and kills it): fixtures
    kill what they start, whether their tests pass or fail, so a survivor is a defect."""
    try:
        timing.wait_for(lambda: not processes.survivors(), "", timeout=timing.seconds(2))
        return
    except AssertionError:
        left = processes.survivors()
    processes.kill(left)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{len(left)} process(es) started by the tests outlived them (now killed):"]
    lines += [f"  pid {pid}: {description}" for pid, description in sorted(left.items())]
    if reporter:
        reporter.line("")
        reporter.section("processes left running", sep="!", red=True, bold=True)
        for line in lines:
            reporter.write_line(line, red=True)
    else:
        print("\n".join(lines), file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def start_process():
    """Returns start(args, **popen_kwargs) -> Popen; every process it started, and all its
    group, is killed when the test ends."""
    started = []

    def start(args, **popen_kwargs):
        started.append(processes.start(args, **popen_kwargs))
        return started[-1]

    yield start
    for process in started:
        processes.kill_group(process)


@pytest.fixture
def start_service(tmp_path):
    """Returns start(root, **env) -> RunningService; every service it started is stopped
    when the test ends, passed or failed."""
    started = []

    def start(root: Path, **env) -> RunningService:
        started.append(RunningService(root, tmp_path / f"service-{len(started)}.log", **env))
        return started[-1]

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def published_policy(tmp_path_factory):
    """Returns (root, actor, critic): one real version of POLICY, version 1."""
    from tests.helpers import publish_models, random_models  # Keras: only for the tests that need it

    root = tmp_path_factory.mktemp("artifacts")
    actor, critic = random_models(seed=1)
    publish_models(root, POLICY, actor, critic)
    return root, actor, critic


@pytest.fixture(scope="session")
def service(published_policy, tmp_path_factory):
    """A running service over `published_policy`, shared by every test that only reads from
    it, in tests/service and tests/reliability (one per module cost a gunicorn start each)."""
    root, _, _ = published_policy
    with RunningService(root, tmp_path_factory.mktemp("log") / "service.log", POLICY_MAX_BATCH=1000,
                        POLICY_MAX_BODY_BYTES=65536) as running:
        running.wait_ready()
        yield running


@dataclass(frozen=True)
class TrainedRoot:
    """An artifact root the trainer CLI published into, with each run's finished process."""

    root: Path
    runs: dict[str, CompletedProcess]

    def copy_to(self, directory: Path) -> Path:
        """Returns a copy of the root in `directory`, for a test to add to or serve alone."""
        shutil.copytree(self.root, directory)
        return directory


def _train(root: Path, runs: dict[str, list[str]]) -> TrainedRoot:
    finished = {}
    for name, args in runs.items():
        finished[name] = processes.run_trainer(*args, "--artifact-root", str(root))
        assert finished[name].returncode == 0, finished[name].stderr
    return TrainedRoot(root, finished)


@pytest.fixture(scope="session")
def trained_lake(tmp_path_factory) -> TrainedRoot:
    """The deterministic 4x4 lake as users train it, seed 0: what the trainer's CLI tests
    check, and what the client and page tests serve. Run with --if-missing: on an empty
    root it trains all the same, which its test checks."""
    return _train(tmp_path_factory.mktemp("trained-lake"),
                  {"lake": ["--map", "4x4", "--seed", "0", "--quiet", "--if-missing"]})


@pytest.fixture(scope="session")
def trained_taxi_and_cartpole(tmp_path_factory) -> TrainedRoot:
    """A tabular policy with an action mask (Taxi) and a Box one (CartPole), trained briefly
    by the CLI into one root: the tests need their manifests and any policy, not a good one."""
    return _train(tmp_path_factory.mktemp("trained-envs"), {
        "taxi": ["--env", "Taxi-v4", "--seed", "0", "--budget", "2000", "--quiet"],
        "cartpole": ["--env", "CartPole-v1", "--seed", "0", "--budget", "1000", "--eval-episodes", "5", "--quiet"],
    })
