"""Keep-alive connections share a worker fairly: one busy client cannot hold it.

The order in which the worker handled requests is read from gunicorn's access log (one
line per request, in handling order), so the test asserts an order, never a time.
"""

import socket
import threading
import time

from tests.services import POLICY
from tests.timing import seconds

BURST = 1000


def _request(probe: str) -> bytes:
    return f"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Probe: {probe}\r\n\r\n".encode()


def _read_responses(sock: socket.socket, count: int) -> None:
    """Reads until `count` HTTP responses have started to arrive (counted by status lines)."""
    seen, buffer = 0, b""
    while seen < count:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {seen} of {count} responses"
        buffer += chunk
        seen += buffer.count(b"HTTP/1.1 ")
        buffer = buffer[buffer.rfind(b"HTTP/1.1 ") + 1:] if b"HTTP/1.1 " in buffer else buffer


def test_a_busy_keep_alive_connection_does_not_hold_the_worker(start_service, published_policy, tmp_path):
    root, _, _ = published_policy
    access_log = tmp_path / "access.log"
    service = start_service(
        root, POLICY_WORKERS=1, POLICY_DEFAULT_POLICY=POLICY,
        GUNICORN_CMD_ARGS=f"--access-logfile {access_log} --access-logformat %({{x-probe}}i)s",
    )
    service.wait_ready()
    busy = socket.create_connection(("127.0.0.1", service.port))  # read by a thread the join below bounds
    quiet = socket.create_connection(("127.0.0.1", service.port), timeout=seconds(30))
    try:
        # Both connections are open and idle in the worker before the burst starts.
        for sock, name in ((busy, "warm-busy"), (quiet, "warm-quiet")):
            sock.sendall(_request(name))
            _read_responses(sock, 1)
        drain = threading.Thread(target=_read_responses, args=(busy, BURST), daemon=True)
        drain.start()
        # A burst of pipelined requests: the worker finds the next one already waiting
        # after each answer, and so never blocks on this connection's socket.
        busy.sendall(b"".join(_request(f"busy-{i}") for i in range(BURST)))
        quiet.sendall(_request("quiet"))
        _read_responses(quiet, 1)
        drain.join(timeout=seconds(100))
        assert not drain.is_alive(), "the busy connection's answers did not all arrive"
    finally:
        busy.close()
        quiet.close()

    # gunicorn logs a request after its answer is sent: wait for the last lines to be written.
    last = f"busy-{BURST - 1}"
    deadline = time.monotonic() + seconds(60)
    while last not in access_log.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.05)
    handled = [line.strip() for line in access_log.read_text().splitlines() if line.strip()]
    assert handled.count("quiet") == 1 and sum(p.startswith("busy-") for p in handled) == BURST, handled[-5:]
    busy_before_quiet = handled.index("quiet") - handled.index("busy-0")
    # Round robin would answer it after one or two of the burst; waiting behind the whole
    # burst (BURST) is what an unfair worker does. Half the burst leaves room for a slow
    # client thread that sends the quiet request late.
    assert busy_before_quiet < BURST // 2, f"the quiet request waited behind {busy_before_quiet} requests of the burst"
