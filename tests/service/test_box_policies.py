"""Box-observation policies: answered by ONNX Runtime in workers that never import
TensorFlow, equal to the Keras models, with every observation checked against the space."""

import json
import re

import numpy as np
import pytest
import tritonclient.http as triton

from tests.helpers import publish_box_models, publish_models, random_box_models, random_models
from tests.processes import children_of, command_line
from tests.services import RunningService
from tests.service.test_errors import assert_error

BOX = "cartpole"
OBSERVATIONS = [[0.01, -0.2, 0.03, 0.4], [-1.0, 0.5, -0.1, -0.3], [2.0, 1.5, 0.2, 1.0]]


@pytest.fixture(scope="module")
def box_models():
    return random_box_models(shape=(4,), n_actions=2, seed=3)


@pytest.fixture(scope="module")
def box_service(tmp_path_factory, box_models):
    root = tmp_path_factory.mktemp("artifacts")
    publish_box_models(root, BOX, *box_models)
    publish_models(root, "frozenlake-4x4", *random_models())
    with RunningService(root, tmp_path_factory.mktemp("log") / "service.log", POLICY_DEFAULT_POLICY=BOX) as running:
        running.wait_ready()
        running.wait_until_every_worker(
            lambda: running.get("/readyz").json()["served"] == {BOX: 1, "frozenlake-4x4": 1}, "both policies served")
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
