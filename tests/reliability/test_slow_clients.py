"""Slow and stalled clients cannot deny service, and every read is bounded in time."""

import socket
import threading
import time

from tests.helpers import publish_models, random_models
from tests.services import POLICY
from tests.timing import seconds, wait_for

# The longest the service allows; where a test needs the service's timeouts out of its way.
LONGEST = 300


def open_stalled(port: int, first_bytes: bytes) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=seconds(10))
    connection.sendall(first_bytes)
    return connection


def closed_by_server(connection: socket.socket, within: float) -> bytes | None:
    """Returns what the server sent before closing (b'' for a silent close), None if it kept
    the connection open for `within` seconds."""
    connection.settimeout(within)
    received = b""
    try:
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                return received
            received += chunk
    except socket.timeout:
        return None
    except ConnectionResetError:
        return received


def server_side_is_open(server_port: int, connection: socket.socket) -> bool:
    """Returns True while the server still holds its end of `connection` open: the kernel's
    table lists it ESTABLISHED. Unlike reading, looking there lets nothing more through."""
    client_port = connection.getsockname()[1]
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            local, remote, state = line.split()[1:4]
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
                return state == "01"
    return False


def test_stalled_and_slow_clients_do_not_stop_normal_requests(tmp_path, start_service):
    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models())
    # The stalled clients are held for as long as the service allows, all through the test.
    service = start_service(root, POLICY_KEEPALIVE=LONGEST, POLICY_REQUEST_TIMEOUT=LONGEST)
    service.wait_ready()
    body_head = (f"POST /act HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: 100\r\n\r\n{{").encode()
    # Far more stalled connections than the old service had threads (2 workers x 4).
    stalled = [open_stalled(service.port, b"P") for _ in range(96)]
    slow_bodies = [open_stalled(service.port, body_head) for _ in range(32)]
    stop = threading.Event()

    def trickle():  # one more byte of each slow body every half second
        while not stop.wait(0.5):
            for connection in slow_bodies:
                try:
                    connection.sendall(b" ")
                except OSError:
                    pass

    trickler = threading.Thread(target=trickle)
    trickler.start()
    try:
        answers = [service.post("/act", {"observation": 0}) for _ in range(20)]
        assert [a.status_code for a in answers] == [200] * 20
        assert service.get("/healthz").status_code == 200
    finally:
        stop.set()
        trickler.join()
        for connection in stalled + slow_bodies:
            connection.close()


def test_a_request_whose_headers_stall_is_closed_after_keepalive(tmp_path, start_service):
    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models())
    service = start_service(root, POLICY_KEEPALIVE=1, POLICY_REQUEST_TIMEOUT=3)
    service.wait_ready()
    connection = open_stalled(service.port, b"POST /act HTTP/1.1\r\nHost: x\r\n")
    try:
        assert closed_by_server(connection, within=seconds(10)) is not None, "the stalled connection was kept open"
    finally:
        connection.close()


def test_a_body_that_trickles_in_past_the_request_timeout_gets_a_408(tmp_path, start_service):
    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models())
    service = start_service(root, POLICY_KEEPALIVE=2, POLICY_REQUEST_TIMEOUT=2)
    service.wait_ready()
    connection = open_stalled(service.port, b"POST /act HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                            b"Content-Length: 50\r\n\r\n{")
    try:
        deadline = time.monotonic() + seconds(15)
        answer = None
        while answer is None and time.monotonic() < deadline:
            try:
                connection.sendall(b" ")
            except OSError:  # closed by the server: what it sent before closing is still to be read
                answer = closed_by_server(connection, within=seconds(5))
                break
            answer = closed_by_server(connection, within=1.0)  # one byte a second: each read succeeds, the whole is late
        assert answer is not None, "the slow body was read for as long as it kept coming"
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"request_timeout"' in answer
    finally:
        connection.close()


def test_a_client_that_never_reads_its_answers_is_cut_off(tmp_path, start_service):
    root = tmp_path / "artifacts"
    publish_models(root, POLICY, *random_models())
    # Keep-alive out of the way: it must be the request timeout that cuts this client off.
    service = start_service(root, POLICY_KEEPALIVE=LONGEST, POLICY_REQUEST_TIMEOUT=2)
    service.wait_ready()
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect(("127.0.0.1", service.port))
    try:
        # Pipelined requests whose answers fill every buffer on the way, never read.
        connection.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 300)
        wait_for(lambda: not server_side_is_open(service.port, connection),
                 "the server to close the connection of a client that reads nothing", timeout=seconds(20))
        # What was already on its way still arrives, then the end of the connection.
        connection.settimeout(seconds(10))
        received, closed = 0, False
        try:
            while True:
                chunk = connection.recv(1 << 20)
                if not chunk:
                    closed = True
                    break
                received += len(chunk)
        except (socket.timeout, ConnectionResetError) as exc:
            closed = isinstance(exc, ConnectionResetError)
        assert closed, f"the connection was kept open ({received} bytes were waiting)"
        assert service.get("/healthz").status_code == 200
    finally:
        connection.close()
