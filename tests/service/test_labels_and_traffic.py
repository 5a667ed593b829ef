"""Version labels usable wherever a version is, and a seeded traffic split for requests that
name no version: every answer says which version produced it. What the app answers, so in
process (tests/service/test_readiness.py and the reliability tests run the real processes)."""

import collections

import pytest

from service.settings import Settings
from tests.helpers import publish_models, random_models
from tests.service.test_errors import assert_error
from tests.services import POLICY, InProcessService


@pytest.fixture(scope="module")
def canary_service(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    for seed in (1, 2, 3):
        publish_models(root, POLICY, *random_models(seed=seed))
    settings = Settings(artifact_root=root, version_labels={POLICY: {"stable": 2, "canary": 3, "gone": 9}},
                        traffic_split={POLICY: {"stable": 80, "canary": 20}})
    return InProcessService(settings, tmp_path_factory.mktemp("cache"))


def test_models_show_labels_split_and_what_could_not_be_applied(canary_service):
    status = canary_service.get(f"/models/{POLICY}").json()
    assert status["labels"] == {"latest": 3, "previous": 2, "stable": 2, "canary": 3}
    assert status["traffic"] == [{"version": 2, "weight": 80.0, "via": "stable"},
                                 {"version": 3, "weight": 20.0, "via": "canary"}]
    assert any("'gone'" in note for note in status["notes"])


def test_the_same_seed_lands_on_the_same_version_and_shares_follow_the_split(canary_service):
    versions = {}
    for seed in range(400):
        answer = canary_service.post("/act", {"observation": 0, "seed": seed}).json()
        versions[seed] = answer["version"]
    assert all(canary_service.post("/act", {"observation": 0, "seed": s}).json()["version"] == versions[s]
               for s in range(0, 400, 37))
    counts = collections.Counter(versions.values())
    assert set(counts) == {2, 3}
    assert 0.70 < counts[2] / 400 < 0.90  # 80% expected; 400 draws give a standard error of 2%


def test_labels_work_in_our_api_open_inference_and_tf_serving(canary_service):
    assert canary_service.post("/act", {"observation": 0, "version": "canary"}).json()["version"] == 3
    assert canary_service.post("/value", {"observation": 0, "version": "stable"}).json()["version"] == 2
    assert canary_service.get("/policy", params={"version": "previous"}).json()["version"] == 2
    infer = {"inputs": [{"name": "observation", "shape": [1], "datatype": "INT64", "data": [0]}]}
    assert canary_service.post(f"/v2/models/{POLICY}/versions/canary/infer", infer).json()["model_version"] == "3"
    tfs = canary_service.post(f"/v1/models/{POLICY}/labels/stable:predict", {"instances": [[0]]})
    assert tfs.status_code == 200 and tfs.headers["X-Model-Version"] == "2"
    assert_error(canary_service.post("/act", {"observation": 0, "version": "gone"}), 404, "version_not_found")


def test_a_named_version_bypasses_the_split(canary_service):
    assert {canary_service.post("/act", {"observation": 0, "seed": s, "version": 1}).json()["version"]
            for s in range(20)} == {1}


def test_cors_is_off_by_default(canary_service, service):
    origin = {"Origin": "https://app.example"}
    assert "Access-Control-Allow-Origin" not in canary_service.get("/models", headers=origin).headers
    assert "Access-Control-Allow-Origin" not in service.get("/models", headers=origin).headers


def test_cors_allows_a_listed_origin(tmp_path):
    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models())
    running = InProcessService(Settings(artifact_root=root, cors_origins=["https://app.example"]), tmp_path / "cache")
    allowed = running.post("/act", {"observation": 0}, headers={"Origin": "https://app.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    preflight = running.options("/act", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200 and preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    other = running.post("/act", {"observation": 0}, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
