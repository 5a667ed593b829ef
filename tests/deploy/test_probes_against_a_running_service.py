"""The Deployment's container and the Job's, run as written (command, args, environment),
answer their probes the way Kubernetes needs, on a fresh install where both start at once.
"""

import os
import socket
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from subprocess import DEVNULL

import pytest

from tests.deploy.conftest import only_container
from tests.processes import children_of, run
from tests.timing import seconds

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(url: str) -> int | None:
    """Returns the HTTP status of GET url, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=seconds(2)) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def memory_bytes(pid: int) -> int:
    """Returns the proportional set size (shared pages split among sharers) of a process tree."""
    pss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                  if line.startswith("Pss:"))
    return pss_kb * 1024 + sum(memory_bytes(child) for child in children_of(pid))


def quantity_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(quantity[:-2]) * units[quantity[-2:]]


@pytest.fixture
def first_install(manifests, tmp_path, start_process):
    """Starts the Deployment's container on an empty claim; returns it with its URL and start time."""
    container = only_container(manifests["Deployment"])
    artifacts, private_tmp = tmp_path / "artifacts", tmp_path / "tmp"
    artifacts.mkdir()
    private_tmp.mkdir()
    port = free_port()
    env = {**os.environ, **{v["name"]: v["value"] for v in container["env"]},
           # What the pod gets from its mount, network namespace and /tmp volume, this test gets here.
           "POLICY_ARTIFACT_ROOT": str(artifacts), "POLICY_HOST": "127.0.0.1", "POLICY_PORT": str(port),
           "TMPDIR": str(private_tmp)}
    started = time.monotonic()
    process = start_process([str(BIN / container["command"][0]), *container.get("args", [])], env=env,
                            stdout=DEVNULL, stderr=DEVNULL)
    return process, f"http://127.0.0.1:{port}", artifacts, started


def test_first_install_is_live_then_ready_once_the_job_published(manifests, first_install):
    process, url, artifacts, started = first_install
    container = only_container(manifests["Deployment"])
    probes = {name: container[name] for name in ("startupProbe", "readinessProbe", "livenessProbe")}
    deadline = time.monotonic() + seconds(60)
    while status_of(url + probes["livenessProbe"]["httpGet"]["path"]) != 200:
        assert process.poll() is None and time.monotonic() < deadline, "the service never answered its liveness probe"
        time.sleep(0.1)
    # No version yet: alive (the kubelet must not restart it) but not ready (no traffic).
    assert status_of(url + probes["readinessProbe"]["httpGet"]["path"]) == 503

    trainer = only_container(manifests["Job"])
    args = list(trainer["args"])
    args[args.index("--artifact-root") + 1] = str(artifacts)
    run([str(BIN / trainer["command"][0]), *args], check=True, capture_output=True, timeout=seconds(300))

    # Each worker picks up the loader's state on its own and a probe reaches either one, so
    # ready means ten answers in a row, not one.
    deadline = time.monotonic() + seconds(60)
    while not all(status_of(url + probes["startupProbe"]["httpGet"]["path"]) == 200 for _ in range(10)):
        assert process.poll() is None and time.monotonic() < deadline, "the service never became ready"
        time.sleep(0.1)
    first_ready = time.monotonic() - started
    startup = probes["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    # How long this machine took says little about a cluster's nodes, and nothing about the
    # code: reported, never a failure (tests/timing.py).
    if budget < 3 * first_ready:
        warnings.warn(f"the startup probe allows {budget} s; a first install took {first_ready:.1f} s here, "
                      f"more than a third of it")
    assert status_of(url + probes["readinessProbe"]["httpGet"]["path"]) == 200
    assert status_of(url + probes["livenessProbe"]["httpGet"]["path"]) == 200
    assert status_of(url + manifests["Deployment"]["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"]) == 200

    # Master, workers and loader, as the pod's memory cgroup would count them.
    memory = memory_bytes(process.pid)
    request = quantity_bytes(container["resources"]["requests"]["memory"])
    assert memory <= request, f"a replica holds {memory / 2**20:.0f} MiB, over its {request / 2**20:.0f} MiB request"
