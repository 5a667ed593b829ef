"""Several clients against several workers while versions are published, one of them corrupt."""

import threading

import requests

from tests.helpers import publish_damaged, publish_models, random_models, truncate_file
from tests.services import POLICY
from tests.timing import seconds

CLIENTS = 4


def test_no_request_fails_and_no_answer_comes_from_a_bad_or_stale_version(tmp_path, start_service):
    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models(seed=1))
    service = start_service(root, POLICY_WORKERS=3)
    service.wait_ready()
    answers = [[] for _ in range(CLIENTS)]  # per client: versions in the order answered
    failures, stop = [], threading.Event()

    def client(index):
        session = requests.Session()
        while not stop.is_set():
            try:
                response = session.post(service.url + "/act", json={"observations": [0, 5, 14]}, timeout=seconds(10))
            except requests.RequestException as exc:
                failures.append(repr(exc))
                continue
            if response.status_code == 200:
                answers[index].append(response.json()["version"])
            else:
                failures.append(response.text)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        publish_models(root, POLICY, *random_models(seed=2))
        publish_damaged(root, POLICY, truncate_file("critic.keras"), seed=3)
        publish_models(root, POLICY, *random_models(seed=4))
        service.wait_until_every_worker(
            lambda: service.post("/act", {"observation": 0}).json()["version"] == 4, "version 4 served",
            timeout=seconds(30), samples=30)
        settled = [len(a) for a in answers]
        service.wait_until(lambda: all(len(a) > s + 20 for a, s in zip(answers, settled)), "more answers")
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert failures == []
    every_version = {v for a in answers for v in a}
    assert every_version <= {1, 2, 4}, "an answer came from a version that never loaded"
    for client_answers, settled_at in zip(answers, settled):
        assert set(client_answers[settled_at:]) == {4}
    versions = {v["version"]: v for v in service.get(f"/models/{POLICY}").json()["versions"]}
    assert versions[3]["state"] == "failed"
