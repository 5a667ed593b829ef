"""Policies of other environments, end to end: the real trainer CLI publishes a Box policy
(CartPole) and a tabular one with an action mask (Taxi), the service serves both, and
`python -m service.client play` plays each policy's own environment through it."""

import subprocess
import sys

import pytest

from tests.service.conftest import RunningService


@pytest.fixture(scope="module")
def two_env_service(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    for args in (["--env", "CartPole-v1", "--budget", "2000"], ["--env", "Taxi-v4", "--budget", "20000"]):
        subprocess.run([sys.executable, "-m", "trainer", *args, "--seed", "0", "--quiet", "--artifact-root", str(root)],
                       check=True, timeout=300, capture_output=True)
    service = RunningService(root, tmp_path_factory.mktemp("log") / "service.log")
    service.wait_ready()
    service.wait_until_every_worker(lambda: set(service.get("/readyz").json()["served"]) == {"cartpole", "taxi"},
                                    "both policies served")
    yield service
    service.stop()


def play(service, *args):
    result = subprocess.run([sys.executable, "-m", "service.client", "play", "--url", service.url, *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_manifests_describe_each_environment(two_env_service):
    cartpole = two_env_service.get("/models/cartpole").json()["versions"][0]
    assert cartpole["env"]["id"] == "CartPole-v1" and cartpole["observation_space"]["kind"] == "box"
    assert cartpole["evaluation"]["metric"] == "mean_return"
    taxi = two_env_service.get("/models/taxi").json()["versions"][0]
    assert taxi["observation_space"] == {"kind": "discrete", "n": 500}
    assert taxi["action_names"] == ["SOUTH", "NORTH", "EAST", "WEST", "PICKUP", "DROPOFF"]
    assert taxi["evaluation"]["metric"] == "expected_return"


def test_play_runs_a_box_policy_in_its_own_environment(two_env_service):
    out = play(two_env_service, "--policy", "cartpole", "--episodes", "5", "--mode", "greedy")
    assert "cartpole v1 on CartPole-v1: 5 episodes, mean return" in out
    assert "the manifest's mean_return" in out


def test_play_sends_taxis_action_mask_and_only_allowed_actions_are_taken(two_env_service):
    out = play(two_env_service, "--policy", "taxi", "--episodes", "3", "--use-action-mask", "--mode", "sample")
    assert "taxi v1 on Taxi-v4: 3 episodes, mean return" in out
    # At the start, Taxi forbids some moves; every sampled action must respect the mask.
    mask = [1, 1, 0, 1, 0, 0]
    actions = two_env_service.post("/act", {"policy": "taxi", "observations": [328] * 200, "seed": 1,
                                            "action_mask": mask}).json()["actions"]
    assert set(actions) <= {0, 1, 3}
