"""The Python client: typed answers, the server's errors as exceptions, retries on 503;
`policy-client play` counts success as the trainer's evaluation did."""

import re
import sys
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from policy_client import PolicyClient, PolicyServiceError
from policy_client.schemas import ActResponse
from tests.helpers import publish_models, random_models
from tests.processes import run
from tests.timing import seconds
from trainer.models import build_actor, build_critic

POLICY_CLIENT = str(Path(sys.executable).with_name("policy-client"))


def test_client_returns_the_servers_answers_as_typed_models(trained_service):
    client = PolicyClient(trained_service.url)
    answer = client.act(0, mode="greedy")
    assert isinstance(answer, ActResponse) and answer.policy == "frozenlake-4x4" and answer.version == 1
    raw = trained_service.post("/act", {"observation": 0, "mode": "greedy"}).json()
    assert answer.action == raw["action"]
    batch = client.act_batch(list(range(16)), mode="greedy")
    assert batch.actions[0] == answer.action and len(batch.actions) == 16
    assert client.values([0, 14]).values == trained_service.post("/value", {"observations": [0, 14]}).json()["values"]
    assert len(client.probabilities(3).probabilities) == 4
    assert len(client.probabilities_batch([1, 2]).probabilities) == 2
    assert client.models().policies[0].served_version == 1
    assert len(client.policy_table().cells) == 16


def test_client_raises_the_servers_error(trained_service):
    client = PolicyClient(trained_service.url)
    with pytest.raises(PolicyServiceError) as raised:
        client.act(0, policy="missing-policy")
    assert raised.value.status == 404 and raised.value.code == "policy_not_found"
    with pytest.raises(PolicyServiceError) as raised:
        client.act(99)
    assert raised.value.status == 422 and "0..15" in raised.value.message


def act_answers_not_ready(service) -> int:
    """Returns how many /act requests the service has answered 503, over all its workers."""
    match = re.search(r'lake_requests_total\{method="POST",route="/act",status="503"\} (\S+)',
                      service.get("/metrics").text)
    return int(float(match.group(1))) if match else 0


def test_client_retries_while_the_service_is_not_ready(tmp_path, start_service):
    root = tmp_path / "artifacts"
    service = start_service(root)
    client = PolicyClient(service.url, retries=60, backoff=0.3, timeout=seconds(5))  # Retry-After: 1 s each
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(client.act, 0)
        # Nothing is published until the client has been told "not ready" at least once.
        service.wait_until(lambda: act_answers_not_ready(service) >= 1, "a 503 for the client's first request")
        publish_models(root, "frozenlake-4x4", *random_models())
        assert answer.result(timeout=seconds(90)).version == 1


def test_client_gives_up_on_a_dead_address_after_its_retries():
    with pytest.raises(requests.ConnectionError):
        PolicyClient("http://127.0.0.1:9", retries=2, backoff=0.01, timeout=seconds(1)).act(0)


def test_client_imports_without_tensorflow():
    code = "import sys, policy_client; sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    assert run([sys.executable, "-c", code], timeout=seconds(60)).returncode == 0


def play(url: str, *args: str, command: tuple[str, ...] = (POLICY_CLIENT,)) -> str:
    result = run([*command, "play", "--url", url, *args], capture_output=True, text=True, timeout=seconds(300))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_play_reports_the_played_success_next_to_the_exact_one(trained_service):
    out = play(trained_service.url, "--episodes", "200")
    # Deterministic lake, solved policy: every game reaches the goal, as the manifest says.
    assert "200 episodes, mean return 1.000 ± 0.000" in out, out
    assert "success 1.000 ± 0.000, exact greedy success from the manifest 1.000" in out, out


def cliff_walker(n_states=48, n_actions=4):
    """Returns an actor and critic that walk CliffWalking's shortest safe path: up from the
    start, right along the row above the cliff, down into the goal (13 steps, return -13)."""
    up, right, down = 0, 1, 2
    actions = np.full(n_states, down)  # the two top rows: down to the row above the cliff
    actions[24:35], actions[35], actions[36] = right, down, up
    actor, critic = build_actor(n_states, n_actions), build_critic(n_states)
    kernel = np.zeros((n_states, n_actions), dtype="float32")
    kernel[np.arange(n_states), actions] = 20.0
    actor.layers[-1].set_weights([kernel, np.zeros(n_actions, dtype="float32")])
    return actor, critic


def test_play_counts_success_by_the_manifests_goal_not_the_rewards_sign(tmp_path, start_service):
    # CliffWalking pays -1 for the step into the goal too: its goal is to end the episode
    # (the manifest's success rate beside an expected_return metric), which this path does.
    publish_models(
        tmp_path / "root", "cliffwalking", *cliff_walker(), n_states=48,
        env=dict(id="CliffWalking-v1", kwargs={}, max_episode_steps=100), action_names=["UP", "RIGHT", "DOWN", "LEFT"],
        evaluation=dict(metric="expected_return", value=-13.0, best=-13.0, method="exact", success_rate=1.0),
    )
    service = start_service(tmp_path / "root")
    service.wait_until(lambda: service.get("/readyz").status_code == 200, "the policy to load")
    out = play(service.url, "--episodes", "20")
    assert "20 episodes, mean return -13.000 ± 0.000" in out, out
    assert "success 1.000 ± 0.000, exact greedy success from the manifest 1.000" in out, out


def test_python_m_service_client_still_plays_and_says_it_is_deprecated(trained_service):
    result = run([sys.executable, "-m", "service.client", "play", "--episodes", "5", "--url", trained_service.url],
                 capture_output=True, text=True, timeout=seconds(300))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "warning: python -m service.client is deprecated: use policy-client"
    assert "5 episodes, mean return 1.000" in result.stdout
