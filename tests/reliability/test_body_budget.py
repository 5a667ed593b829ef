"""Request bodies being received share a memory budget per worker: a client that opens
many connections and never finishes its bodies gets 503s, not the worker's memory, and
normal requests keep being answered."""

import socket

import pytest

from tests.services import POLICY
from tests.timing import seconds

BODY = 40 << 10  # over the budget's small-body threshold (16 KiB)
BUDGET = 100 << 10  # two such bodies fit, the third does not


def held_body(port: int) -> socket.socket:
    """Opens a connection that sends all of a large /act body but its last byte."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=seconds(10))
    head = (f"POST /act HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {BODY}\r\n\r\n").encode()
    sock.sendall(head + b" " * (BODY - 1))
    return sock



@pytest.mark.parametrize("workers", [1])
def test_bodies_over_the_budget_get_503_and_normal_requests_are_answered(published_policy, start_service, workers):
    root, _, _ = published_policy
    service = start_service(root, POLICY_WORKERS=workers, POLICY_BODY_BUDGET_BYTES=BUDGET, POLICY_DEFAULT_POLICY=POLICY)
    service.wait_ready()
    held = [held_body(service.port) for _ in range(2)]
    try:
        # The two held bodies are being received; wait until the worker counts both.
        service.wait_until(lambda: _third_is_refused(service.port), "the budget to fill")
        for _ in range(20):
            answer = service.post("/act", {"observation": 0})
            assert answer.status_code == 200, answer.text
    finally:
        for sock in held:
            sock.close()
    # Once they are gone, a large body fits again.
    service.wait_until(lambda: not _third_is_refused(service.port), "the budget to be given back")


def _third_is_refused(port: int) -> bool:
    sock = held_body(port)
    try:
        sock.settimeout(seconds(2))
        answer = b""
        try:
            while not answer.endswith(b"}"):  # the JSON error body ends the answer
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:  # no answer: the worker is reading the body, so it fitted
            if not answer:
                return False
        assert answer.startswith(b"HTTP/1.1 503") and b'"code":"overloaded"' in answer.replace(b" ", b""), answer[:300]
        assert b"POLICY_BODY_BUDGET_BYTES" in answer
        return True
    finally:
        sock.close()
