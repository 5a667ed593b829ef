"""Health and readiness tell the truth while there is nothing to serve, and after."""

from tests.helpers import publish_models, random_models
from tests.service.conftest import POLICY
from tests.timing import seconds


def test_not_ready_until_a_policy_appears_in_a_missing_root(tmp_path, start_service):
    root = tmp_path / "not-yet"
    service = start_service(root)
    assert service.get("/healthz").status_code == 200
    assert service.get("/v2/health/live").status_code == 200
    not_ready = service.get("/readyz")
    assert not_ready.status_code == 503 and not_ready.headers["Retry-After"]
    assert service.get("/v2/health/ready").status_code == 400  # the protocol's "not ready" (/readyz keeps 503)
    act = service.post("/act", {"observation": 0})
    assert act.status_code == 503 and act.json()["error"]["code"] == "not_ready"
    service.wait_until(lambda: "does not exist" in service.get("/readyz").json()["error"]["message"],
                       "the loader to report the missing root")

    publish_models(root, POLICY, *random_models())
    service.wait_ready()
    assert service.get("/readyz").json()["served"] == {POLICY: 1}
    assert service.get("/v2/health/ready").json() == {"ready": True}  # the Open Inference Protocol's body
    assert service.post("/act", {"observation": 0}).status_code == 200


def test_pinned_version_is_served_instead_of_the_newest(tmp_path, start_service):
    root = tmp_path / "artifacts"
    for seed in (1, 2, 3):
        publish_models(root, POLICY, *random_models(seed=seed))
    service = start_service(root, POLICY_PINNED_VERSIONS='{"frozenlake-4x4": 2}')
    service.wait_ready()
    service.wait_until_every_worker(lambda: len(service.get("/models").json()["policies"][0]["versions"]) == 3,
                                    "3 versions listed")
    assert service.post("/act", {"observation": 0}).json()["version"] == 2
    assert service.post("/act", {"observation": 0, "version": 3}).json()["version"] == 3
    assert service.get(f"/models/{POLICY}").json()["pinned_version"] == 2


def test_after_the_first_ready_answer_no_request_is_refused_whichever_worker_takes_it(tmp_path, start_service):
    import requests

    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models())
    refused = []
    for start in range(10):
        service = start_service(root)
        # Poll as a Kubernetes readiness probe would, with a fresh connection each time.
        service.wait_until(lambda: requests.get(service.url + "/readyz", timeout=seconds(10)).status_code == 200,
                           "the first ready answer")
        for _ in range(30):  # a new connection each: whichever worker accepts it answers
            response = requests.post(service.url + "/act", json={"observation": 0}, timeout=seconds(10))
            if response.status_code != 200:
                refused.append((start, response.status_code, response.text[:200]))
        service.stop()
    assert refused == []


def test_readiness_waits_for_every_worker(tmp_path, start_service):
    root = tmp_path / "artifacts"
    cache = tmp_path / "cache"
    service = start_service(root, POLICY_WORKERS=3, POLICY_CACHE_DIR=cache)
    service.wait_until(lambda: len(list((cache / "workers").glob("*.json"))) == 3,
                       "each worker to report what it installed")
    assert service.get("/readyz").status_code == 503
    publish_models(root, POLICY, *random_models())
    service.wait_until(lambda: service.get("/readyz").status_code == 200, "ready")
    assert all(service.post("/act", {"observation": 0}).status_code == 200 for _ in range(30))
