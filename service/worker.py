"""The gunicorn worker class: gevent, with every read of a request bounded in time, and
gunicorn's own error answers (414, 431, bad framing) in the service's JSON error shape.

Why gevent: a gthread worker gives each open connection one of a few threads, so a few
clients that send one byte and stall hold every thread (slowloris). Under gevent an idle
or slow connection holds only a greenlet; `worker_connections` of them per worker.

Fairness: a gevent socket read returns at once, without yielding, when the client's next
request is already waiting; so a greenlet serving a busy keep-alive connection would go
on serving it while every other connection waits (measured with wrk: per-connection
counts from 237 to 2,880 in one worker, p99 753 ms at 8 connections). The worker yields
to the hub after each request, so every ready connection gets its turn.

Bounds: a request's headers must arrive within `keepalive` seconds (gunicorn's gevent
worker times out the wait for each request with it), and the whole request, body
included, within `request_timeout` seconds of its first byte, and each answer must be
taken by the client within `request_timeout` seconds (`DeadlineSocket`).
"""

from __future__ import annotations

import json
import socket
import time

import gevent
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

from service.errors import http_error
from service.settings import Settings


class DeadlineSocket:
    """A client socket whose reads fail with TimeoutError once the current request has
    taken longer than `seconds` to arrive; the clock restarts after each response."""

    def __init__(self, sock: socket.socket, seconds: float):
        self._sock = sock
        self._seconds = seconds
        self._deadline: float | None = None

    def recv(self, size: int, *flags) -> bytes:
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self._seconds
        remaining = self._deadline - now
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv(size, *flags)
        finally:
            self._sock.settimeout(None)

    # Writes are bounded too: a client that never reads its answers (pipelining requests
    # into a full receive buffer) is cut off instead of holding the connection forever.
    def send(self, data, *flags):
        self._deadline = None
        return self._bounded(self._sock.send, data, *flags)

    def sendall(self, data, *flags):
        self._deadline = None
        return self._bounded(self._sock.sendall, data, *flags)

    def _bounded(self, write, *args):
        self._sock.settimeout(self._seconds)
        try:
            return write(*args)
        finally:
            self._sock.settimeout(None)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's `util.write_error`, answering in the service's JSON error shape."""
    body = json.dumps(http_error(status_int, reason, mesg).body())
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body.encode())}\r\n\r\n")
    util.write_nonblock(sock, (head + body).encode("latin1", errors="replace"))


class BoundedGeventWorker(GeventWorker):
    def init_process(self):
        settings = Settings()
        self.request_timeout, self.boot_wait = settings.request_timeout, settings.boot_wait
        # gunicorn writes its own errors (request line or headers too large, bad chunked
        # framing) through this function and offers no hook: replaced in this process only.
        util.write_error = write_json_error
        super().init_process()

    def run(self):
        # A worker that accepted connections before it had the loader's state would answer
        # 503 to requests that its siblings can serve: wait for the state (or `boot_wait`).
        registry = getattr(self.wsgi, "extensions", {}).get("registry")  # none in bench/noop_app.py
        deadline = time.monotonic() + self.boot_wait
        while registry and not registry.snapshot.loader_seen and time.monotonic() < deadline and self.alive:
            self.notify()
            gevent.sleep(0.02)
            registry.refresh()  # sooner than its watcher's next tick: this is the cold start
        super().run()

    def handle(self, listener, client, addr):
        client.setblocking(1)
        super().handle(listener, DeadlineSocket(client, self.request_timeout), addr)

    def handle_request(self, listener_name, req, sock, addr):
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            # Round-robin between connections: see "Fairness" above.
            gevent.sleep(0)
