"""The Deployment's container and the Job's, run as written (command, args, environment),
answer their probes the way Kubernetes needs, on a fresh install where both start at once.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.deploy.conftest import only_container

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(url: str) -> int | None:
    """Returns the HTTP status of GET url, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def memory_bytes(pid: int) -> int:
    """Returns the proportional set size (shared pages split among sharers) of a process tree."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    pss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                  if line.startswith("Pss:"))
    return pss_kb * 1024 + sum(memory_bytes(int(child)) for child in children)


def quantity_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(quantity[:-2]) * units[quantity[-2:]]


@pytest.fixture
def first_install(manifests, tmp_path):
    """Starts the Deployment's container on an empty claim; yields it with its URL and start time."""
    container = only_container(manifests["Deployment"])
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    port = free_port()
    env = {**os.environ, **{v["name"]: v["value"] for v in container["env"]},
           # What the pod gets from its mount and network namespace, this test gets here.
           "LAKE_ARTIFACT_ROOT": str(artifacts), "LAKE_HOST": "127.0.0.1", "LAKE_PORT": str(port)}
    started = time.monotonic()
    process = subprocess.Popen([str(BIN / container["command"][0]), *container.get("args", [])], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield process, f"http://127.0.0.1:{port}", artifacts, started
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_first_install_is_live_then_ready_once_the_job_published(manifests, first_install):
    process, url, artifacts, started = first_install
    container = only_container(manifests["Deployment"])
    probes = {name: container[name] for name in ("startupProbe", "readinessProbe", "livenessProbe")}
    deadline = time.monotonic() + 60
    while status_of(url + probes["livenessProbe"]["httpGet"]["path"]) != 200:
        assert process.poll() is None and time.monotonic() < deadline, "the service never answered its liveness probe"
        time.sleep(0.1)
    # No version yet: alive (the kubelet must not restart it) but not ready (no traffic).
    assert status_of(url + probes["readinessProbe"]["httpGet"]["path"]) == 503

    trainer = only_container(manifests["Job"])
    args = list(trainer["args"])
    args[args.index("--artifact-root") + 1] = str(artifacts)
    subprocess.run([str(BIN / trainer["command"][0]), *args], check=True, capture_output=True, timeout=300)

    # Each worker picks up the loader's state on its own and a probe reaches either one, so
    # ready means ten answers in a row, not one.
    while not all(status_of(url + probes["startupProbe"]["httpGet"]["path"]) == 200 for _ in range(10)):
        assert process.poll() is None and time.monotonic() < deadline, "the service never became ready"
        time.sleep(0.1)
    first_ready = time.monotonic() - started
    startup = probes["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert budget >= 3 * first_ready, f"startup probe allows {budget} s; a first install took {first_ready:.1f} s"
    assert status_of(url + probes["readinessProbe"]["httpGet"]["path"]) == 200
    assert status_of(url + probes["livenessProbe"]["httpGet"]["path"]) == 200
    assert status_of(url + manifests["Deployment"]["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"]) == 200

    # Master, workers and loader, as the pod's memory cgroup would count them.
    memory = memory_bytes(process.pid)
    request = quantity_bytes(container["resources"]["requests"]["memory"])
    assert memory <= request, f"a replica holds {memory / 2**20:.0f} MiB, over its {request / 2**20:.0f} MiB request"
