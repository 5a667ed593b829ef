"""What an unlucky operator does to a running service: odd names, full disks, cleaned
scratch directories, aged-out labels, made-up methods, huge answers. Each holds."""

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from policy_artifacts import scan_versions
from service import handoff
from service.handoff import VersionState
from service.loader import Loader
from service.settings import Settings
from tests.helpers import publish_models, random_models
from tests.processes import children_of, command_line
from tests.services import POLICY
from tests.timing import seconds


def loader(root: Path, cache: Path, **settings) -> Loader:
    return Loader(Settings(artifact_root=root, **settings), cache)


@pytest.fixture(scope="module")
def three_versions(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    for seed in (1, 2, 3):
        publish_models(root, POLICY, *random_models(seed=seed))
    return root


def test_a_version_name_that_is_not_utf8_is_listed_and_stops_nothing(tmp_path):
    root = tmp_path / "root"
    publish_models(root, POLICY, *random_models(seed=1))
    os.mkdir(os.fsencode(root / POLICY) + b"/\xff")
    service_loader = loader(root, tmp_path / "cache")
    service_loader.publish(service_loader.scan_settled())
    state = handoff.read_state(tmp_path / "cache")
    record = state.policies[POLICY]
    assert record.served_version == 1
    assert [(e.name, e.reason) for e in record.ignored] == [("\\xff", "not a version number (ASCII digits only)")]


def test_a_cache_that_cannot_be_written_fails_the_version_with_its_reason_then_recovers(three_versions, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / handoff.SERVABLES_DIR).write_text("a file where the servables directory should be")
    service_loader = loader(three_versions, cache, keep_versions=1, poll_interval=0.05)
    state = service_loader.scan_settled()
    [record] = state.policies[POLICY].versions
    assert record.state is VersionState.FAILED and "cannot write its servable to the cache dir" in record.error
    (cache / handoff.SERVABLES_DIR).unlink()  # space again: a scan after the poll interval loads it
    time.sleep(0.1)
    assert service_loader.scan_settled().policies[POLICY].served_version == 3


def test_labelled_and_split_versions_stay_loaded_whatever_keep_versions_says(three_versions, tmp_path):
    service_loader = loader(three_versions, tmp_path / "cache", keep_versions=2,
                            version_labels={POLICY: {"stable": 1, "canary": 3}},
                            traffic_split={POLICY: {"stable": 90, "canary": 10}})
    record = service_loader.scan_settled().policies[POLICY]
    assert record.record(1).state is VersionState.LOADED
    assert record.labels["stable"] == 1 and record.labels["canary"] == 3
    assert sorted((share.version, share.weight) for share in record.traffic) == [(1, 90), (3, 10)]


def test_a_split_with_a_share_that_cannot_be_served_is_refused_as_a_whole(three_versions, tmp_path):
    service_loader = loader(three_versions, tmp_path / "cache",
                            traffic_split={POLICY: {"7": 50, "latest": 25, "previous": 25}})
    record = service_loader.scan_settled().policies[POLICY]
    assert record.traffic == []  # not half and half between the two that resolve
    assert any("traffic split not applied: '7'" in note for note in record.notes)


def test_a_version_caught_half_deleted_is_still_named_removed_once_gone(tmp_path):
    root = tmp_path / "root"
    publish_models(root, POLICY, *random_models(seed=1))
    version_two = publish_models(root, POLICY, *random_models(seed=2)).path
    service_loader = loader(root, tmp_path / "cache")
    service_loader.publish(service_loader.scan_settled())
    (version_two / "manifest.json").unlink()  # a scan lands in the middle of rm -r
    service_loader.publish(service_loader.scan_settled())
    assert service_loader.state.policies[POLICY].record(2).state is VersionState.FAILED
    shutil.rmtree(version_two)
    record = service_loader.scan_settled().policies[POLICY]
    assert record.record(2).state is VersionState.REMOVED and record.served_version == 1


def test_a_state_file_removed_or_overwritten_is_written_again(three_versions, tmp_path):
    cache = tmp_path / "cache"
    service_loader = loader(three_versions, cache, poll_interval=0.05)
    service_loader.publish(service_loader.scan_settled())
    (cache / handoff.STATE_FILE).write_text("garbage")
    stamp = handoff.state_stamp(cache)
    assert stamp != service_loader.written_stamp  # what run_forever compares, each poll
    service_loader.publish(service_loader.scan_settled())
    assert handoff.read_state(cache).policies[POLICY].served_version == 3


def test_servables_removed_from_the_cache_are_written_again(three_versions, tmp_path):
    cache = tmp_path / "cache"
    service_loader = loader(three_versions, cache)
    service_loader.publish(service_loader.scan_settled())
    for servable in (cache / handoff.SERVABLES_DIR).iterdir():
        servable.unlink()
    state = service_loader.scan_settled()
    service_loader.publish(state)
    named = {r.servable for r in state.policies[POLICY].versions if r.servable}
    assert named and all((cache / handoff.SERVABLES_DIR / name).is_file() for name in named)


@pytest.mark.parametrize("setting, value, message", [
    ("version_labels", {POLICY: {"latest": 1}}, "not be 'latest' or 'previous'"),
    ("version_labels", {POLICY: {"2": 1}}, "must start with a letter"),
    ("poll_interval", 1e-9, "greater than or equal to 0.05"),
])
def test_settings_that_would_misbehave_are_refused(setting, value, message):
    with pytest.raises(ValueError, match=message):
        Settings(**{setting: value})


def test_made_up_methods_share_one_metrics_label(service):
    import requests

    for method in ("FOO", "BAR", "X" * 40):
        requests.request(method, service.url + "/act", timeout=seconds(10))
    text = service.get("/metrics").text
    assert 'method="other"' in text
    assert "FOO" not in text and "BAR" not in text and "XXXX" not in text


def test_answers_over_the_cell_cap_are_refused_with_the_cap(published_policy, start_service):
    root, _, _ = published_policy
    service = start_service(root, POLICY_MAX_ANSWER_CELLS=40)  # 16 states x 4 actions = 64 numbers
    service.wait_ready()
    table = service.get("/policy")
    assert table.status_code == 413 and "over the limit of 40 (POLICY_MAX_ANSWER_CELLS)" in table.json()["error"]["message"]
    assert service.post("/policy", {"observations": list(range(10))}).status_code == 200  # 40 numbers
    too_many = service.post("/policy", {"observations": list(range(11))})
    assert too_many.status_code == 413 and "44 numbers" in too_many.json()["error"]["message"]
    infer = service.post(f"/v2/models/{POLICY}/infer", {"inputs": [
        {"name": "observation", "shape": [11, 1], "datatype": "INT64", "data": list(range(11))}]})
    assert infer.status_code == 413 and isinstance(infer.json()["error"], str)
    page = service.get("/")
    assert page.status_code == 200 and "grid of" not in page.text  # the page leaves the grid out


def loader_and_a_worker(service) -> tuple[int, int]:
    """Returns the pids of the service's loader and of one of its workers."""
    children = children_of(service.process.pid)
    loader_pid = next(p for p in children if "service.loader" in command_line(p))
    return loader_pid, next(p for p in children if p != loader_pid)


def scratch_path(loader_pid: int, variable: str) -> str:
    """Returns a scratch path the master set in the environment after it started: only the
    loader, a process started after that, shows it in /proc."""
    environ = Path(f"/proc/{loader_pid}/environ").read_bytes().split(b"\0")
    return os.fsdecode(next(v.split(b"=", 1)[1] for v in environ if v.startswith(variable.encode() + b"=")))


def test_a_removed_metrics_directory_fails_no_request_even_in_a_new_worker(published_policy, start_service):
    root, _, _ = published_policy
    service = start_service(root)
    service.wait_ready()
    loader_pid, worker = loader_and_a_worker(service)
    shutil.rmtree(scratch_path(loader_pid, "PROMETHEUS_MULTIPROC_DIR"))
    os.kill(worker, signal.SIGKILL)  # its replacement starts with no metrics directory
    service.wait_ready()
    for _ in range(20):
        assert service.get("/healthz").status_code == 200
        assert service.post("/act", {"observation": 0}).status_code == 200
    assert service.get("/metrics").status_code == 200


def test_a_metrics_directory_replaced_by_a_file_is_a_503_not_a_500(published_policy, start_service):
    root, _, _ = published_policy
    service = start_service(root)
    service.wait_ready()
    loader_pid, worker = loader_and_a_worker(service)
    metrics_dir = scratch_path(loader_pid, "PROMETHEUS_MULTIPROC_DIR")
    shutil.rmtree(metrics_dir)
    Path(metrics_dir).write_text("not a directory")  # found by an independent probe
    os.kill(worker, signal.SIGKILL)
    service.wait_ready()
    for _ in range(10):
        assert service.post("/act", {"observation": 0}).status_code == 200
        answer = service.get("/metrics")
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "metrics_unavailable"
    Path(metrics_dir).unlink()


def test_a_servables_directory_replaced_by_a_file_keeps_the_served_version_named(three_versions, tmp_path):
    cache = tmp_path / "cache"
    service_loader = loader(three_versions, cache, poll_interval=0.05)
    service_loader.publish(service_loader.scan_settled())
    served = handoff.read_state(cache).policies[POLICY].record(3).servable
    shutil.rmtree(cache / handoff.SERVABLES_DIR)
    (cache / handoff.SERVABLES_DIR).write_text("a file")  # found by an independent probe
    time.sleep(0.1)
    record = service_loader.scan_settled().policies[POLICY]
    # Workers that hold version 3 keep answering with it while the cache cannot be written.
    assert record.served_version == 3 and record.record(3).servable == served


def test_a_slow_version_holds_back_no_other_policy(three_versions, tmp_path):
    import threading

    release = threading.Event()

    class OneSlowPolicy(Loader):  # a policy whose check takes as long as the test says
        def _load(self, policy, version, print_):
            if policy == "slow":
                release.wait(seconds(60))
            return super()._load(policy, version, print_)

    root = tmp_path / "root"
    publish_models(root, "slow", *random_models(seed=1))
    publish_models(root, POLICY, *random_models(seed=2))
    service_loader = OneSlowPolicy(Settings(artifact_root=root), tmp_path / "cache")
    try:
        state = service_loader.scan()
        deadline = time.monotonic() + seconds(60)
        while state.policies[POLICY].served_version is None and time.monotonic() < deadline:
            service_loader.wake.wait(1)
            service_loader.wake.clear()
            state = service_loader.scan()
        assert state.policies[POLICY].served_version == 1  # served while "slow" is still loading
        slow = state.policies["slow"]
        assert slow.served_version is None and [v.state.value for v in slow.versions] == ["loading"]
    finally:
        release.set()
    assert service_loader.scan_settled(timeout=seconds(100)).policies["slow"].served_version == 1


def test_version_numbers_are_never_reused_after_every_version_was_deleted(tmp_path):
    import shutil

    root = tmp_path / "root"
    for seed in (1, 2):
        publish_models(root, POLICY, *random_models(seed=seed))
    for version in ("1", "2"):
        shutil.rmtree(root / POLICY / version)
    assert publish_models(root, POLICY, *random_models(seed=3)).version == 3
    assert scan_versions(root, POLICY).ignored == []  # the numbering record is no version, nor ignored
    shutil.rmtree(root / POLICY)  # the policy's whole directory, too (found by an independent probe)
    assert publish_models(root, POLICY, *random_models(seed=4)).version == 4


def test_an_http_1_1_request_without_host_is_refused(service):
    import socket

    with socket.create_connection(("127.0.0.1", service.port), timeout=seconds(10)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
        answer = b""
        while not answer.rstrip().endswith(b"}"):  # the JSON error body (and a newline) ends the answer
            chunk = sock.recv(4096)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400") and b"Host header" in answer


def test_a_killed_master_leaves_no_scratch_directories(published_policy, start_service):
    root, _, _ = published_policy
    service = start_service(root)
    service.wait_ready()
    loader_pid, _ = loader_and_a_worker(service)
    owned = scratch_path(loader_pid, "POLICY_OWNED_SCRATCH_DIRS")
    directories = [Path(d) for d in owned.split(os.pathsep)]
    assert directories and all(d.is_dir() for d in directories)
    os.kill(service.process.pid, signal.SIGKILL)  # no hook of the master runs
    service.process.wait(timeout=seconds(10))
    deadline = time.monotonic() + seconds(60)
    while any(d.exists() for d in directories) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(d.exists() for d in directories)
