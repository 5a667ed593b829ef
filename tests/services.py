"""The service for tests: real gunicorn processes on free loopback ports, driven over HTTP
with requests; and the same app in this process, for tests where no process plays a part."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests import processes
from tests.timing import seconds

POLICY = "frozenlake-4x4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningService:
    """`python -m service` (gunicorn's master, its workers and the loader) in a process group
    of its own, answering on a free loopback port once constructed. `stop()` kills the whole
    group; so does a constructor that fails. Usable as a context manager."""

    def __init__(self, root: Path, log_path: Path, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        # Its own TMPDIR: the master's cache and metrics directories, left when it is killed,
        # stay with the test's other files.
        private_tmp = log_path.with_suffix(".tmp")
        private_tmp.mkdir()
        environment = {**os.environ, "POLICY_POLL_INTERVAL": "0.2", "TMPDIR": str(private_tmp),
                       **{k: str(v) for k, v in env.items()}}
        self.log = open(log_path, "wb")
        self.process = processes.start(
            [sys.executable, "-m", "service", "--artifact-root", str(root), "--host", "127.0.0.1",
             "--port", str(self.port)],
            env=environment, stdout=self.log, stderr=subprocess.STDOUT,
        )
        try:
            self.wait_until(lambda: self.get("/healthz").status_code == 200, "the server to answer /healthz")
        except BaseException:
            self.stop()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def get(self, path, timeout=None, **kwargs):
        return requests.get(self.url + path, timeout=timeout or seconds(10), **kwargs)

    def post(self, path, payload=None, timeout=None, **kwargs):
        return requests.post(self.url + path, json=payload, timeout=timeout or seconds(10), **kwargs)

    def wait_until(self, condition, what: str, timeout: float | None = None):
        """Returns once `condition()` holds; an answer that is refused or slow only means
        "not yet". Fails when the server exits, or after `timeout` (default seconds(60))."""
        deadline = time.monotonic() + (timeout or seconds(60))
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited ({self.process.returncode}):\n{self.output()}")
            try:
                if condition():
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; server log:\n{self.output()}")

    def wait_until_every_worker(self, condition, what: str, timeout: float | None = None, samples: int = 20):
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
        """Kills the master, its workers and the loader: nothing here tests how they stop
        (tests/reliability does, explicitly), and a kill cannot be delayed by a stuck worker."""
        processes.kill_group(self.process)  # again, harmlessly, if a test stopped it already
        self.log.close()


def in_process_app(settings, cache_dir: Path):
    """Returns the service's Flask app in this process, over the state one scan by the
    loader published: the whole request path of a worker, with no process or socket."""
    from service.app import create_app
    from service.loader import Loader

    loader = Loader(settings, cache_dir)
    loader.publish(loader.scan_settled(timeout=seconds(300)))
    return create_app(settings, cache_dir=cache_dir, watch=False)


class Answer:
    """A Flask test response with the parts of requests' Response that tests read."""

    def __init__(self, response):
        self.status_code, self.headers, self.content = response.status_code, response.headers, response.data
        self.text = response.get_data(as_text=True)

    def json(self):
        return json.loads(self.content)


class InProcessService:
    """`in_process_app` behind the same get/post as RunningService, for tests of what the
    app answers, where no process, socket or second worker plays a part."""

    def __init__(self, settings, cache_dir: Path):
        self.client = in_process_app(settings, cache_dir).test_client()

    def get(self, path, params=None, **kwargs):
        return Answer(self.client.get(path, query_string=params, **kwargs))

    def post(self, path, payload=None, **kwargs):
        return Answer(self.client.post(path, json=payload, **kwargs))

    def options(self, path, **kwargs):
        return Answer(self.client.options(path, **kwargs))
