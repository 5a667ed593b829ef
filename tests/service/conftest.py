"""Real gunicorn processes on free loopback ports, driven over HTTP with requests."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.helpers import publish_models, random_models

POLICY = "frozenlake-4x4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningService:
    def __init__(self, root: Path, log_path: Path, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environment = {**os.environ, "LAKE_POLL_INTERVAL": "0.2", **{k: str(v) for k, v in env.items()}}
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "--artifact-root", str(root), "--host", "127.0.0.1",
             "--port", str(self.port)],
            env=environment, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.wait_until(lambda: self.get("/healthz").status_code == 200, "the server to answer /healthz")

    def get(self, path, **kwargs):
        return requests.get(self.url + path, timeout=10, **kwargs)

    def post(self, path, payload=None, **kwargs):
        return requests.post(self.url + path, json=payload, timeout=10, **kwargs)

    def wait_until(self, condition, what: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited ({self.process.returncode}):\n{self.output()}")
            try:
                if condition():
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; server log:\n{self.output()}")

    def wait_until_every_worker(self, condition, what: str, timeout: float = 60.0, samples: int = 20):
        """Waits until `condition` holds for `samples` requests in a row. Workers pick up
        the loader's state independently, and each request reaches whichever worker is free,
        so a single answer speaks only for one worker."""
        self.wait_until(lambda: all(condition() for _ in range(samples)), f"every worker: {what}", timeout)

    def wait_ready(self):
        self.wait_until_every_worker(lambda: self.get("/readyz").status_code == 200, "a policy loaded")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


@pytest.fixture
def start_service(tmp_path):
    started = []

    def start(root: Path, **env) -> RunningService:
        service = RunningService(root, tmp_path / f"service-{len(started)}.log", **env)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="module")
def published_policy(tmp_path_factory):
    """Returns (root, actor, critic): one real version of POLICY, version 1."""
    root = tmp_path_factory.mktemp("artifacts")
    actor, critic = random_models(seed=1)
    publish_models(root, POLICY, actor, critic)
    return root, actor, critic


@pytest.fixture(scope="module")
def service(published_policy, tmp_path_factory):
    """A running service over `published_policy`, shared by a module's tests."""
    root, _, _ = published_policy
    running = RunningService(root, tmp_path_factory.mktemp("log") / "service.log", LAKE_MAX_BATCH=1000,
                             LAKE_MAX_BODY_BYTES=65536)
    running.wait_ready()
    yield running
    running.stop()
