"""The service's answers are the Keras models' answers, loaded independently here."""

import keras
import numpy as np
import pytest

from tests.services import POLICY

ALL_STATES = list(range(16))


@pytest.fixture(scope="module")
def keras_outputs(published_policy):
    root, _, _ = published_policy
    actor = keras.models.load_model(root / POLICY / "1" / "actor.keras", compile=False)
    critic = keras.models.load_model(root / POLICY / "1" / "critic.keras", compile=False)
    states = np.arange(16).reshape(-1, 1)
    return np.asarray(actor(states)), np.asarray(critic(states))[:, 0]


def test_probabilities_equal_the_actor_for_every_state(service, keras_outputs):
    probabilities, _ = keras_outputs
    answer = service.post("/policy", {"observations": ALL_STATES}).json()
    assert answer["policy"] == POLICY and answer["version"] == 1
    assert answer["action_names"] == ["LEFT", "DOWN", "RIGHT", "UP"]
    np.testing.assert_allclose(answer["probabilities"], probabilities, rtol=1e-5, atol=1e-6)
    single = service.post("/policy", {"observation": 3}).json()
    np.testing.assert_allclose(single["probabilities"], probabilities[3], rtol=1e-5, atol=1e-6)


def test_values_equal_the_critic_for_every_state(service, keras_outputs):
    _, values = keras_outputs
    answer = service.post("/value", {"observations": ALL_STATES}).json()
    np.testing.assert_allclose(answer["values"], values, rtol=1e-5, atol=1e-6)
    assert service.post("/value", {"observation": 7}).json()["value"] == pytest.approx(values[7], rel=1e-5)


def test_greedy_action_is_the_actors_argmax(service, keras_outputs):
    probabilities, _ = keras_outputs
    answer = service.post("/act", {"observations": ALL_STATES, "mode": "greedy"}).json()
    assert answer["actions"] == probabilities.argmax(axis=1).tolist()
    assert answer["action_names"] == [["LEFT", "DOWN", "RIGHT", "UP"][a] for a in answer["actions"]]
    single = service.post("/act", {"observation": 5, "mode": "greedy"}).json()
    assert single["action"] == int(probabilities[5].argmax())


def test_seeded_samples_repeat_and_unseeded_follow_the_policy(service, keras_outputs):
    probabilities, _ = keras_outputs
    request = {"observations": [0] * 1000, "seed": 42}
    first, again = service.post("/act", request).json(), service.post("/act", request).json()
    assert first["actions"] == again["actions"] and first["mode"] == "sample"
    counts = np.zeros(4)
    for _ in range(4):
        counts += np.bincount(service.post("/act", {"observations": [0] * 1000}).json()["actions"], minlength=4)
    expected = probabilities[0] * 4000
    # Five standard deviations per action: fails only if sampling ignores the policy.
    assert np.all(np.abs(counts - expected) <= 5 * np.sqrt(expected * (1 - probabilities[0])) + 1)


def test_policy_table_describes_every_cell(service, keras_outputs):
    probabilities, values = keras_outputs
    table = service.get("/policy").json()
    assert table["layout"]["rows"] == ["SFFF", "FHFH", "FFFH", "HFFG"]
    assert [c["tile"] for c in table["cells"]][:6] == ["S", "F", "F", "F", "F", "H"]
    assert [c["greedy_action"] for c in table["cells"]] == probabilities.argmax(axis=1).tolist()
    np.testing.assert_allclose([c["value"] for c in table["cells"]], values, rtol=1e-5, atol=1e-6)
    assert table["cells"][6]["row"] == 1 and table["cells"][6]["col"] == 2


def test_models_lists_versions_with_their_evaluation(service):
    models = service.get("/models").json()
    assert models["default_policy"] == POLICY
    (policy,) = models["policies"]
    assert policy["served_version"] == 1
    assert policy["versions"][0]["state"] == "loaded"
    assert policy["versions"][0]["evaluation"]["best"] == 1.0
    assert policy["versions"][0]["evaluation"]["metric"] == "success_rate"
    assert service.get(f"/models/{POLICY}").json()["name"] == POLICY
