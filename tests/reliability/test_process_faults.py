"""Shutdown, dying workers and a dying loader: the service drains, heals and keeps answering."""

import os
import signal
import threading

import pytest
import requests
from urllib3.exceptions import NewConnectionError

from tests.helpers import publish_models, random_models
from tests.processes import children_of, command_line
from tests.services import POLICY
from tests.timing import seconds, wait_for


def gunicorn_children(service):
    """Returns the pids of the master's children: workers and the loader."""
    return children_of(service.process.pid)


def connection_was_refused(error: requests.ConnectionError) -> bool:
    """Returns True if the request never reached the server: its connect() was refused."""
    cause = error.args[0] if error.args else None
    reason = getattr(cause, "reason", cause)
    return isinstance(reason, NewConnectionError) or isinstance(reason, ConnectionRefusedError)


def test_connection_refused_is_told_apart_from_a_request_cut_off():
    import socket

    with socket.socket() as listener:  # accepts, then closes without answering: a cut-off request
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def close_first_connection():
            connection, _ = listener.accept()
            connection.recv(1024)
            connection.close()

        closer = threading.Thread(target=close_first_connection)
        closer.start()
        with pytest.raises(requests.ConnectionError) as cut:
            requests.post(f"http://127.0.0.1:{port}/act", json={}, timeout=seconds(5))
        closer.join()
    assert not connection_was_refused(cut.value)
    with pytest.raises(requests.ConnectionError) as refused:  # the listener is closed now
        requests.post(f"http://127.0.0.1:{port}/act", json={}, timeout=seconds(5))
    assert connection_was_refused(refused.value)


def ready_service(tmp_path, start_service, **env):
    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models())
    service = start_service(root, **env)
    service.wait_ready()
    return service


def test_sigterm_lets_in_flight_requests_finish_and_exits(tmp_path, start_service):
    graceful = int(seconds(10))  # a bound: under load a request may need more than a quiet machine's 10 s
    service = ready_service(tmp_path, start_service, POLICY_GRACEFUL_TIMEOUT=graceful)
    big = {"observations": [0] * 10000}
    results, answered = [], threading.Event()

    def client():
        for _ in range(30):
            try:
                results.append(requests.post(service.url + "/act", json=big, timeout=seconds(10)).status_code)
            except requests.RequestException as exc:
                # Refused: no connection was made (shutdown had closed the listener), fine.
                # Anything else (reset, closed mid-answer, no answer) cut off a request in flight.
                is_refused = isinstance(exc, requests.ConnectionError) and connection_was_refused(exc)
                results.append("refused" if is_refused else f"cut off: {exc!r}")
                return
            answered.set()

    thread = threading.Thread(target=client)
    thread.start()
    # Once one answer is back the client is sending its next: the signal finds a request in flight.
    assert answered.wait(timeout=seconds(30)), f"no answer before the signal: {results}"
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=graceful + seconds(10)) == 0
    thread.join()
    # Every request that got an answer got a whole, successful one: none was cut off.
    assert results and all(r in (200, "refused") for r in results), results
    assert 200 in results


def test_killed_worker_is_replaced_and_service_keeps_answering(tmp_path, start_service):
    service = ready_service(tmp_path, start_service)
    workers = [pid for pid in gunicorn_children(service) if "service.loader" not in command_line(pid)]
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    for _ in range(50):
        assert service.post("/act", {"observation": 0}).status_code == 200
    service.wait_until(lambda: len([p for p in gunicorn_children(service)
                                    if "service.loader" not in command_line(p)]) == 2, "a replacement worker")
    assert workers[0] not in gunicorn_children(service)


def test_killed_loader_is_restarted_and_still_picks_up_new_versions(tmp_path, start_service):
    service = ready_service(tmp_path, start_service)
    (loader,) = [pid for pid in gunicorn_children(service) if "service.loader" in command_line(pid)]
    os.kill(loader, signal.SIGKILL)
    assert service.post("/act", {"observation": 0}).json()["version"] == 1  # workers need no loader to answer
    publish_models(tmp_path / "artifacts", POLICY, *random_models(seed=5))
    service.wait_until(lambda: service.post("/act", {"observation": 0}).json()["version"] == 2,
                       "the restarted loader to load version 2")
    assert loader not in gunicorn_children(service)


def test_a_bad_state_in_the_cache_dir_does_not_stop_workers_from_booting(tmp_path, start_service):
    root, cache = tmp_path / "artifacts", tmp_path / "cache"
    publish_models(root, POLICY, *random_models())
    (cache / "servables").mkdir(parents=True)
    (cache / "state.json").write_text('{"artifact_root_exists": true}')  # not a LoaderState
    (cache / "servables" / "frozenlake-4x4-1-000000000000.npz").write_text("garbage")
    service = start_service(root, POLICY_CACHE_DIR=cache)
    service.wait_ready()  # the loader replaced the state; the workers booted and picked it up
    assert service.post("/act", {"observation": 0}).json()["version"] == 1


def is_running(pid: int) -> bool:
    """Returns True while `pid` exists and has not exited (a zombie waits only to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_loader_stops_when_the_master_is_killed(tmp_path, start_service):
    service = ready_service(tmp_path, start_service)
    (loader,) = [pid for pid in gunicorn_children(service) if "service.loader" in command_line(pid)]
    service.process.kill()
    service.process.wait(timeout=seconds(10))
    # The workers and the loader it left are still in its process group: the fixture kills
    # them when the test ends, whether the loader stopped or not.
    wait_for(lambda: not is_running(loader), "the loader to stop without its master", timeout=seconds(15))
