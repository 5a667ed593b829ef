"""Policies of other environments, end to end: the real trainer CLI publishes a Box policy
(CartPole) and a tabular one with an action mask (Taxi), the service serves both, and
`policy-client play` plays each policy's own environment through it."""

import json
import sys
import threading
from pathlib import Path
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gymnasium as gym
import requests

from tests.processes import run
from tests.timing import seconds


@contextmanager
def recording_proxy(target_url):
    """Yields (url, exchanges): an HTTP proxy to `target_url` that appends (path, request body,
    answer body) to `exchanges` for every request it forwards, to see what a client really sent."""
    exchanges = []

    class Forward(BaseHTTPRequestHandler):
        def forward(self, body=None):
            answer = requests.request(self.command, target_url + self.path, data=body, timeout=seconds(10),
                                      headers={"Content-Type": self.headers.get("Content-Type", "")})
            exchanges.append((self.path, json.loads(body) if body else None, answer.json()))
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers["Content-Type"])
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def do_GET(self):
            self.forward()

        def do_POST(self):
            self.forward(self.rfile.read(int(self.headers["Content-Length"])))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", exchanges
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def play(url, *args):
    result = run([str(Path(sys.executable).with_name("policy-client")), "play", "--url", url, *args],
                 capture_output=True, text=True, timeout=seconds(300))
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
    out = play(two_env_service.url, "--policy", "cartpole", "--episodes", "5", "--mode", "greedy")
    assert "cartpole v1 on CartPole-v1: 5 episodes, mean return" in out
    assert "the manifest's mean_return" in out


def test_play_sends_taxis_action_mask_and_only_allowed_actions_are_taken(two_env_service):
    with recording_proxy(two_env_service.url) as (url, exchanges):
        out = play(url, "--policy", "taxi", "--episodes", "3", "--use-action-mask", "--mode", "sample")
    assert "taxi v1 on Taxi-v4: 3 episodes, mean return" in out
    acts = [(request, answer) for path, request, answer in exchanges if path == "/act"]
    assert acts, "play asked the service for no action"
    taxi = gym.make("Taxi-v4").unwrapped
    for request, answer in acts:
        # Each game's mask is the environment's own for its state...
        assert request["action_mask"] == [taxi.action_mask(state).tolist() for state in request["observations"]]
        # ...and every action the service chose for it is one the mask allows.
        assert all(mask[action] == 1 for mask, action in zip(request["action_mask"], answer["actions"]))
    assert any(0 in mask for request, _ in acts for mask in request["action_mask"])  # the masks forbade moves
    # The service keeps to a mask however many times it samples: at the start, Taxi forbids some moves.
    mask = [1, 1, 0, 1, 0, 0]
    actions = two_env_service.post("/act", {"policy": "taxi", "observations": [328] * 200, "seed": 1,
                                            "action_mask": mask}).json()["actions"]
    assert set(actions) <= {0, 1, 3}
