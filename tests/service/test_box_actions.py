"""Box-action policies (a diagonal Gaussian actor) on the service's own API, in-process:
greedy actions are the published Keras actor's mean clipped to the bounds, seeded samples
repeat and are mean + std x N(0, 1) clipped, masks are refused, and the answers, /models
and the page describe the action space."""

import time

import keras
import numpy as np
import pytest

from policy_artifacts import ACTOR_FILE, CRITIC_FILE
from policy_client.schemas import ActResponse, ProbabilitiesResponse
from tests.helpers import publish_gaussian_models, random_gaussian_models
from tests.service.inprocess import build_client

PENDULUM, ARM = "pendulum", "arm"
LOW, HIGH = -2.0, 2.0
BATCH = 1000


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Returns (client, {policy: (keras actor, keras critic) as loaded from the published files}, root)."""
    root = tmp_path_factory.mktemp("artifacts")
    loaded = {}
    for policy, size, seed in ((PENDULUM, 1, 5), (ARM, 2, 4)):
        path = publish_gaussian_models(root, policy, *random_gaussian_models(action_size=size, seed=seed)).path
        loaded[policy] = (keras.saving.load_model(path / ACTOR_FILE), keras.saving.load_model(path / CRITIC_FILE))
    client = build_client(root, tmp_path_factory.mktemp("cache"), max_batch=BATCH, max_body_bytes=1 << 20)
    return client, loaded, root


@pytest.fixture(scope="module")
def client(published):
    return published[0]


def observations(count, seed=0):
    """Returns `count` observations inside Pendulum's bounds ([-1, 1], [-1, 1], [-8, 8])."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (count, 3)) * [1.0, 1.0, 8.0]).astype(np.float32)


def keras_mean_and_std(actor, batch):
    outputs = np.asarray(actor(batch), dtype=np.float64)
    size = outputs.shape[1] // 2
    return outputs[:, :size], np.exp(np.clip(outputs[:, size:], -5, 2))


def assert_error(response, status, code, mentions=()):
    """Asserts the service's JSON error shape with this status and code, mentioning each text."""
    assert response.status_code == status, response.data[:300]
    error = response.get_json()["error"]
    assert (error["status"], error["code"]) == (status, code)
    for text in mentions:
        assert text in error["message"]


def act(client, policy, **body):
    response = client.post("/act", json={"policy": policy, **body})
    assert response.status_code == 200, response.data[:300]
    return ActResponse.model_validate_json(response.data)


@pytest.mark.parametrize("policy", [PENDULUM, ARM])
def test_greedy_actions_of_a_thousand_observations_are_the_keras_mean_clipped(published, policy):
    client, loaded, _ = published
    batch = observations(BATCH)
    started = time.perf_counter()
    answer = act(client, policy, observations=batch.tolist(), mode="greedy")
    print(f"\n{policy}: {BATCH} greedy actions in one request: {1000 * (time.perf_counter() - started):.1f} ms")
    mean, _ = keras_mean_and_std(loaded[policy][0], batch)
    np.testing.assert_allclose(answer.actions, np.clip(mean, LOW, HIGH), atol=1e-5)
    assert (np.abs(mean) > HIGH).any() and (np.abs(mean) < HIGH).any()  # the clip is exercised both ways
    assert answer.action_names is None and np.shape(answer.actions) == (BATCH, mean.shape[1])


def test_one_observation_answers_a_list_of_the_action_shape_without_a_name(client):
    raw = client.post("/act", json={"policy": ARM, "observation": [0.5, -0.5, 1.0], "mode": "greedy"}).get_json()
    assert set(raw) == {"policy", "version", "mode", "action"}
    assert len(raw["action"]) == 2 and all(type(v) is float for v in raw["action"])


def test_seeded_samples_repeat_and_are_the_mean_plus_std_times_the_seeds_normals_clipped(published):
    client, loaded, _ = published
    batch = observations(50, seed=1)
    first, second = (act(client, ARM, observations=batch.tolist(), seed=11).actions for _ in range(2))
    assert first == second
    assert act(client, ARM, observations=batch.tolist(), seed=12).actions != first
    mean, std = keras_mean_and_std(loaded[ARM][0], batch)
    expected = np.clip(mean + std * np.random.default_rng(11).standard_normal(mean.shape), LOW, HIGH)
    np.testing.assert_allclose(first, expected, atol=1e-4)


def test_unseeded_samples_differ_between_requests(client):
    body = {"observations": observations(20).tolist()}
    assert act(client, ARM, **body).actions != act(client, ARM, **body).actions


def test_policy_answers_the_mean_and_std_and_value_the_critic(published):
    client, loaded, _ = published
    actor, critic = loaded[ARM]
    batch = observations(8, seed=2)
    response = client.post("/policy", json={"policy": ARM, "observations": batch.tolist()})
    answer = ProbabilitiesResponse.model_validate_json(response.data)
    mean, std = keras_mean_and_std(actor, batch)
    assert answer.probabilities is None and answer.action_names == ["torque0", "torque1"]
    np.testing.assert_allclose(answer.mean, mean, atol=1e-5)
    np.testing.assert_allclose(answer.std, std, rtol=1e-5)
    single = client.post("/policy", json={"policy": ARM, "observation": batch[0].tolist()}).get_json()
    assert set(single) == {"policy", "version", "action_names", "mean", "std"} and single["mean"] == answer.mean[0]
    values = client.post("/value", json={"policy": ARM, "observations": batch.tolist()}).get_json()["values"]
    np.testing.assert_allclose(values, np.asarray(critic(batch)).reshape(-1), atol=1e-5)


@pytest.mark.parametrize("mask", [[1, 0], [[1, 0]], [1]])
def test_an_action_mask_is_refused_for_box_actions(client, mask):
    response = client.post("/act", json={"policy": ARM, "observation": [0.0, 0.0, 0.0], "action_mask": mask})
    assert_error(response, 422, "unsupported_for_policy", ["action_mask", "box actions"])


@pytest.mark.parametrize("body, status, code", [
    ({"observation": [0.0, 0.0, 9.0]}, 422, "invalid_observation"),  # outside the observation bounds
    ({"observation": [0.0, 0.0]}, 422, "invalid_observation"),
    ({"observation": [0.0, 0.0, 0.0], "mode": "mean"}, 422, "invalid_request"),
])
def test_client_mistakes_are_4xx_json_errors(client, body, status, code):
    assert_error(client.post("/act", json={"policy": PENDULUM, **body}), status, code)


def test_an_answer_of_more_numbers_than_the_cap_is_413(published, tmp_path):
    small = build_client(published[2], tmp_path / "cache", max_answer_cells=30)
    body = {"policy": ARM, "observations": observations(16).tolist()}  # 32 numbers; 64 for mean and std
    assert_error(small.post("/act", json=body), 413, "payload_too_large", ["action elements"])
    assert_error(small.post("/policy", json=body), 413, "payload_too_large")
    assert small.post("/act", json={**body, "observations": body["observations"][:15]}).status_code == 200


def test_the_whole_table_is_refused_for_box_observations(client):
    assert_error(client.get("/policy", query_string={"policy": PENDULUM}), 422, "unsupported_for_policy")


def test_models_show_the_action_space_and_the_page_describes_it(client):
    space = client.get(f"/models/{PENDULUM}").get_json()["versions"][0]["action_space"]
    assert space["kind"] == "box" and space["shape"] == [1] and space["low"] == [LOW] and space["high"] == [HIGH]
    assert space["distribution"]["kind"] == "diagonal_gaussian"
    page = client.get("/")
    assert page.status_code == 200
    text = page.data.decode()
    assert "torque in [-2, 2]" in text and "diagonal gaussian" in text
