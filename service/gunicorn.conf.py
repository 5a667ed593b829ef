"""gunicorn configuration, read from the same `POLICY_*` settings as the app.

The master owns two private directories (the loader's cache and Prometheus' multiprocess
files) and one child besides the workers: the loader, restarted if it dies.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from service.settings import Settings

_settings = Settings()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
# gevent, with request reads bounded in time: see service/worker.py for why.
worker_class = "service.worker.BoundedGeventWorker"
worker_connections = _settings.worker_connections
keepalive = _settings.keepalive
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout
loglevel = _settings.log_level
accesslog = None
wsgi_app = "service.app:create_app()"
# Request line and header limits well below gunicorn's defaults: nothing here needs more.
limit_request_line = 4096
limit_request_fields = 50
limit_request_field_size = 8190
# gunicorn 27's control socket can reload and stop the server: off, as nothing here uses it.
control_socket_disable = True

_owned_dirs: list[str] = []
_loader: dict = {}


def on_starting(server):
    if not os.environ.get("POLICY_CACHE_DIR"):
        os.environ["POLICY_CACHE_DIR"] = str(_settings.cache_dir or tempfile.mkdtemp(prefix="lake-cache-"))
        if not _settings.cache_dir:
            _owned_dirs.append(os.environ["POLICY_CACHE_DIR"])
    os.makedirs(os.environ["POLICY_CACHE_DIR"], exist_ok=True)
    metrics_dir = tempfile.mkdtemp(prefix="lake-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    _owned_dirs.append(metrics_dir)
    # If the master is killed (SIGKILL runs no hook), the loader outlives it briefly and
    # removes these on its way out.
    os.environ["POLICY_OWNED_SCRATCH_DIRS"] = os.pathsep.join(_owned_dirs)
    # Started before the sockets and workers, so its first scan overlaps their start-up
    # (workers accept connections only once it has published: service/worker.py). If the
    # master never comes up, the loader notices its parent is gone and stops.
    _loader["process"] = _start_loader()


def _start_loader():
    return subprocess.Popen([sys.executable, "-m", "service.loader"])


def _how_it_ended(returncode: int) -> str:
    """Returns how a child ended, in words; a SIGKILL is most often the kernel's OOM killer."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    name = signal.Signals(-returncode).name
    hint = " (perhaps out of memory: the kernel's OOM killer sends SIGKILL)" if name == "SIGKILL" else ""
    return f"was killed by {name}{hint}"


def when_ready(server):
    def supervise():
        while not _loader.get("stopping"):
            process = _loader["process"]
            if process.poll() is not None and not _loader.get("stopping"):
                server.log.error("loader %s; restarting it", _how_it_ended(process.returncode))
                _loader["process"] = _start_loader()
            time.sleep(1)

    threading.Thread(target=supervise, name="loader-supervisor", daemon=True).start()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
    # Its readiness report: a dead worker answers nothing (service/registry.py).
    Path(os.environ["POLICY_CACHE_DIR"], "workers", f"{worker.pid}.json").unlink(missing_ok=True)


def on_exit(server):
    _loader["stopping"] = True
    process = _loader.get("process")
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
    for directory in _owned_dirs:
        shutil.rmtree(directory, ignore_errors=True)
