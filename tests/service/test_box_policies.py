"""Box-observation policies: answered by ONNX Runtime in workers that never import
TensorFlow, equal to the Keras models, with every observation checked against the space;
and, over the same real service, a policy with Box actions end to end (the Python client,
`play` stepping Pendulum-v1, tritonclient)."""

import json
import re

import numpy as np
import pytest
import tritonclient.http as triton

from policy_client import PolicyClient
from policy_client.play import play
from tests.helpers import (
    publish_box_models, publish_gaussian_models, publish_models, random_box_models, random_gaussian_models,
    random_models,
)
from tests.processes import children_of, command_line
from tests.services import RunningService
from tests.service.test_errors import assert_error

BOX = "cartpole"
GAUSSIAN = "pendulum"
OBSERVATIONS = [[0.01, -0.2, 0.03, 0.4], [-1.0, 0.5, -0.1, -0.3], [2.0, 1.5, 0.2, 1.0]]


@pytest.fixture(scope="module")
def box_models():
    return random_box_models(shape=(4,), n_actions=2, seed=3)


@pytest.fixture(scope="module")
def box_service(tmp_path_factory, box_models):
    root = tmp_path_factory.mktemp("artifacts")
    publish_box_models(root, BOX, *box_models)
    publish_models(root, "frozenlake-4x4", *random_models())
    publish_gaussian_models(root, GAUSSIAN, *random_gaussian_models(action_size=1, seed=5))
    with RunningService(root, tmp_path_factory.mktemp("log") / "service.log", POLICY_DEFAULT_POLICY=BOX,
                        POLICY_MAX_BATCH=1000) as running:
        running.wait_ready()
        running.wait_until_every_worker(
            lambda: running.get("/readyz").json()["served"] == {BOX: 1, "frozenlake-4x4": 1, GAUSSIAN: 1},
            "every policy served")
        yield running


def test_answers_equal_the_keras_models(box_service, box_models):
    actor, critic = box_models
    batch = np.array(OBSERVATIONS, dtype=np.float32)
    probabilities = box_service.post("/policy", {"observations": OBSERVATIONS}).json()["probabilities"]
    np.testing.assert_allclose(probabilities, np.asarray(actor(batch)), atol=1e-5)
    values = box_service.post("/value", {"observations": OBSERVATIONS}).json()["values"]
    np.testing.assert_allclose(values, np.asarray(critic(batch)).reshape(-1), atol=1e-5)
    greedy = box_service.post("/act", {"observations": OBSERVATIONS, "mode": "greedy"}).json()
    assert greedy["actions"] == np.asarray(actor(batch)).argmax(axis=1).tolist()
    single = box_service.post("/act", {"observation": OBSERVATIONS[0], "mode": "greedy"}).json()
    assert single["action"] == greedy["actions"][0] and single["version"] == 1


def test_seeded_samples_repeat(box_service):
    body = {"observations": OBSERVATIONS * 50, "seed": 11}
    first, second = (box_service.post("/act", body).json()["actions"] for _ in range(2))
    assert first == second and set(first) == {0, 1}


@pytest.mark.parametrize("observation, mentions", [
    ([0.1, 0.2, 0.3], ["shape [4]"]),
    (3, ["shape [4]"]),
    ([[0.1, 0.2, 0.3, 0.4]], ["shape [4]"]),
    ([0.1, "x", 0.3, 0.4], ["shape [4]"]),
    ([0.1, True, 0.3, 0.4], ["true or false"]),
    ([9.0, 0.0, 0.0, 0.0], ["outside the space's bounds", "4.8"]),
    ([0.0, 1e39, 0.0, 0.0], ["finite float32"]),
])
def test_observations_that_do_not_fit_the_space_are_422(box_service, observation, mentions):
    assert_error(box_service.post("/act", {"observation": observation}), 422, "invalid_observation", mentions)


def test_a_ragged_batch_is_422(box_service):
    assert_error(box_service.post("/act", {"observations": [[0.0] * 4, [0.0] * 3]}), 422, "invalid_observation")


def test_the_whole_table_is_only_for_discrete_policies(box_service):
    assert_error(box_service.get("/policy", params={"policy": BOX}), 422, "unsupported_for_policy", ["box"])
    assert box_service.get("/policy", params={"policy": "frozenlake-4x4"}).status_code == 200


def test_an_action_mask_restricts_greedy_and_sampled_actions(box_service):
    for mode in ("greedy", "sample"):
        answer = box_service.post("/act", {"observations": OBSERVATIONS * 20, "mode": mode, "action_mask": [0, 1]})
        assert set(answer.json()["actions"]) == {1}
    per_row = box_service.post("/act", {"observations": OBSERVATIONS[:2], "mode": "greedy",
                                        "action_mask": [[1, 0], [0, 1]]}).json()
    assert per_row["actions"] == [0, 1]
    assert_error(box_service.post("/act", {"observation": OBSERVATIONS[0], "action_mask": [0, 0]}), 422,
                 mentions=["allows no action"])
    assert_error(box_service.post("/act", {"observation": OBSERVATIONS[0], "action_mask": [1, 0, 1]}), 422,
                 mentions=["2 actions"])


def test_tritonclient_infers_box_observations(box_service):
    client = triton.InferenceServerClient(url=f"127.0.0.1:{box_service.port}")
    try:
        metadata = client.get_model_metadata(BOX)
        assert metadata["inputs"] == [{"name": "observation", "datatype": "FP32", "shape": [-1, 4]}]
        tensor = triton.InferInput("observation", [3, 4], "FP32")
        tensor.set_data_from_numpy(np.array(OBSERVATIONS, dtype=np.float32))
        result = client.infer(BOX, [tensor], parameters={"mode": "greedy"})
    finally:
        client.close()
    ours = box_service.post("/act", {"observations": OBSERVATIONS, "mode": "greedy"}).json()
    assert result.as_numpy("action").tolist() == ours["actions"]
    values = box_service.post("/value", {"observations": OBSERVATIONS}).json()["values"]
    np.testing.assert_allclose(result.as_numpy("value"), values, atol=1e-6)


def test_no_process_of_the_service_loads_tensorflow_or_keras(box_service):
    pids = children_of(box_service.process.pid)
    loaders = [pid for pid in pids if "service.loader" in command_line(pid)]
    workers = [pid for pid in pids if pid not in loaders]
    assert len(workers) == 2 and len(loaders) == 1
    for pid in [box_service.process.pid, *pids]:
        maps = open(f"/proc/{pid}/maps").read()
        # jax as a library directory (jax/, jaxlib/): a temporary directory's random name may hold "jax".
        assert "tensorflow" not in maps and "/keras/" not in maps and not re.search(r"/jax(lib)?/", maps), pid
    for pid in workers + loaders:  # the loader checks the serving form; the workers run it
        assert "onnxruntime" in open(f"/proc/{pid}/maps").read()


def test_models_describe_the_box_space(box_service):
    status = box_service.get(f"/models/{BOX}").json()
    space = status["versions"][0]["observation_space"]
    assert space["kind"] == "box" and space["shape"] == [4]
    assert json.loads(json.dumps(space["low"]))[1] is None  # unbounded velocity


@pytest.mark.parametrize("observation", [["1", "2", "0", "0"], [10**400, 0, 0, 0]])
def test_strings_and_huge_integers_are_not_observations(box_service, observation):
    assert_error(box_service.post("/act", {"observation": observation}), 422, "invalid_observation")
    tfs = box_service.post(f"/v1/models/{BOX}:predict", {"instances": [observation]})
    assert tfs.status_code == 400 and isinstance(tfs.json()["error"], str)


def test_a_box_action_policy_is_served_to_the_client_play_and_tritonclient(box_service):
    client = PolicyClient(box_service.url)
    greedy = client.act([1.0, 0.0, 0.5], mode="greedy", policy=GAUSSIAN)
    assert isinstance(greedy.action, list) and len(greedy.action) == 1 and -2 <= greedy.action[0] <= 2
    assert client.act([1.0, 0.0, 0.5], policy=GAUSSIAN, seed=3) == client.act([1.0, 0.0, 0.5], policy=GAUSSIAN, seed=3)
    result = play(client, episodes=2, policy=GAUSSIAN, mode="sample", seed=0)
    assert result["env"] == "Pendulum-v1" and result["versions"] == [1] and result["mean_return"] < 0

    triton_client = triton.InferenceServerClient(url=f"127.0.0.1:{box_service.port}")
    try:
        tensor = triton.InferInput("observation", [2, 3], "FP32")
        tensor.set_data_from_numpy(np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -3.0]], dtype=np.float32))
        answer = triton_client.infer(GAUSSIAN, [tensor], parameters={"mode": "greedy"})
    finally:
        triton_client.close()
    action = answer.as_numpy("action")
    assert action.dtype == np.float32 and action.shape == (2, 1)
    assert action[0].tolist() == pytest.approx(greedy.action, abs=1e-6)
    assert answer.as_numpy("probabilities") is None and answer.as_numpy("std").dtype == np.float64


def test_a_thousand_box_observations_are_answered_in_one_request(box_service):
    batch = np.random.default_rng(0).uniform(-1, 1, (1000, 3)).tolist()
    for mode in ("greedy", "sample"):
        answer = box_service.post("/act", {"policy": GAUSSIAN, "observations": batch, "mode": mode})
        assert answer.status_code == 200 and len(answer.json()["actions"]) == 1000
