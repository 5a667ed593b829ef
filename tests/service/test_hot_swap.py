"""New versions are served without a restart; broken ones never are."""

import threading

from tests.helpers import publish_damaged, publish_models, random_models
from tests.services import POLICY
from tests.timing import seconds


def test_new_version_is_served_without_failed_requests_and_corrupt_one_is_refused(tmp_path, start_service):
    root = tmp_path / "artifacts"
    actor, critic = random_models(seed=1)
    publish_models(root, POLICY, actor, critic)
    service = start_service(root)
    service.wait_ready()

    failures, versions, stop, settled = [], [], threading.Event(), threading.Event()

    def client():
        while not stop.is_set():
            # Whether the swap had settled when this request was *sent*: an answer to a request
            # sent before may arrive (and be recorded) after, on a busy machine.
            sent_after_settling = settled.is_set()
            try:
                response = service.post("/act", {"observation": 0})
            except Exception as exc:  # a dropped connection is a failure too, not the end of counting
                failures.append(repr(exc))
                continue
            if response.status_code != 200:
                failures.append(response.text)
            else:
                versions.append((sent_after_settling, response.json()["version"]))

    thread = threading.Thread(target=client)
    thread.start()
    try:
        publish_models(root, POLICY, *random_models(seed=2))
        # Each worker swaps on its own; the swap has settled once every worker answers 2.
        service.wait_until_every_worker(
            lambda: service.post("/act", {"observation": 0}).json()["version"] == 2, "version 2 served", timeout=seconds(30))
        settled.set()
        # Version 3 appears with its actor replaced after hashing: it must never be served.
        publish_damaged(root, POLICY, lambda path: (path / "actor.keras").write_bytes(b"not a keras file"))
        service.wait_until_every_worker(
            lambda: service.get(f"/models/{POLICY}").json()["versions"][0]["state"] == "failed",
            "version 3 reported as failed", timeout=seconds(30))
    finally:
        stop.set()
        thread.join()

    assert failures == []
    assert versions and {version for _, version in versions} <= {1, 2}
    assert {version for after, version in versions if after} == {2}, \
        "an older version was answered after the swap settled"
    status = service.get(f"/models/{POLICY}").json()
    assert status["served_version"] == 2
    assert "sha256" in status["versions"][0]["error"]
    assert 'lake_load_failures_total{policy="frozenlake-4x4"} 1.0' in service.get("/metrics").text


def test_lambda_layer_version_is_refused_and_reported(tmp_path, start_service):
    import keras

    from policy_artifacts import publish_version
    from tests.helpers import manifest_fields

    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models(seed=1))
    inputs = keras.Input(shape=(1,), dtype="int32")
    x = keras.layers.CategoryEncoding(16, output_mode="one_hot")(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    hostile = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))
    _, critic = random_models()

    def write(directory):
        hostile.save(directory / "actor.keras")
        critic.save(directory / "critic.keras")

    publish_version(root, POLICY, write, manifest_fields())
    service = start_service(root)
    service.wait_ready()
    service.wait_until_every_worker(lambda: len(service.get(f"/models/{POLICY}").json()["versions"]) == 2,
                                    "both versions listed")
    newest = service.get(f"/models/{POLICY}").json()["versions"][0]
    assert newest["state"] == "failed" and "layer class 'Lambda' cannot be served" in newest["error"]
    assert service.post("/act", {"observation": 0}).json()["version"] == 1
