"""Framing, parsing and size limits: every odd request gets a 4xx in the JSON error shape,
and refusing a hostile body costs little."""

import json
import socket

import pytest

from tests.service.test_errors import assert_error
from tests.timing import seconds


def raw_exchange(service, data: bytes) -> tuple[int, dict, bytes]:
    """Returns (status, headers, body) of one raw HTTP/1.1 exchange."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=seconds(10)) as connection:
        connection.sendall(data)
        received = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            length = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            if length and len(body) >= int(length[0].split(b":")[1]):
                break
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def chunked(body: bytes, piece: int = 4096) -> bytes:
    out = b""
    for start in range(0, len(body), piece):
        part = body[start:start + piece]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n\r\n"


def post_head(extra: str = "") -> bytes:
    return (f"POST /act HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n").encode()


def test_chunked_body_over_the_cap_is_413_not_cut_and_answered(service):
    body = json.dumps({"observations": [0] * 40000}).encode()  # > the 64 KiB cap of this service
    status, headers, answer = raw_exchange(service, post_head("Transfer-Encoding: chunked\r\n") + chunked(body))
    assert status == 413, answer
    assert headers["content-type"].startswith("application/json")
    assert json.loads(answer)["error"]["code"] == "payload_too_large"


def test_chunked_body_under_the_cap_is_answered(service):
    body = json.dumps({"observations": [0, 1, 2]}).encode()
    status, _, answer = raw_exchange(service, post_head("Transfer-Encoding: chunked\r\n") + chunked(body, 7))
    assert status == 200, answer
    assert len(json.loads(answer)["actions"]) == 3


def test_a_bad_chunk_size_is_400_json(service):
    status, headers, answer = raw_exchange(service, post_head("Transfer-Encoding: chunked\r\n") + b"zz\r\n{}\r\n0\r\n\r\n")
    assert status == 400, answer
    assert headers["content-type"].startswith("application/json")
    assert json.loads(answer)["error"]["status"] == 400


def test_oversize_url_and_headers_get_the_json_error_shape(service):
    status, headers, answer = raw_exchange(service, f"GET /models?{'a' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 414 and headers["content-type"].startswith("application/json")
    assert json.loads(answer)["error"]["status"] == 414
    many = "".join(f"X-H{i}: v\r\n" for i in range(200))
    status, headers, answer = raw_exchange(service, f"GET /models HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode())
    assert status == 431 and headers["content-type"].startswith("application/json")
    assert json.loads(answer)["error"]["status"] == 431


@pytest.mark.parametrize("version", ["١", "٣", "²", "1.0", "-1", "0", "99999999999999999999999"])
def test_odd_version_queries_are_4xx(service, version):
    response = service.get("/policy", params={"version": version})
    assert response.status_code in (404, 422), response.text
    assert response.json()["error"]["status"] == response.status_code


def test_a_body_of_empty_lists_gets_a_small_answer(service):
    # The service under test caps bodies at 64 KiB; the same shape at 1 MiB is measured in bench/.
    body = "[" + ",".join(["[]"] * 20000) + "]"
    response = service.post("/act", data=f'{{"observations": {body}}}',
                            headers={"Content-Type": "application/json"})
    # Refused before parsing: the body holds more values than any request for the served policy can.
    error = assert_error(response, 422, mentions=["JSON values", "at most"])
    assert len(response.content) < 2048 and error["details"] == [{"field": "body", "max_values": 9024}]
    # Under that budget, a batch over the cap is refused before any element is validated.
    response = service.post("/act", data='{"observations": [' + ",".join(["[]"] * 1500) + "]}",
                            headers={"Content-Type": "application/json"})
    error = assert_error(response, 422, mentions=["observations", "at most"])
    assert error["details"] == [{"field": "observations", "max_items": 1000}]


def test_many_invalid_elements_list_only_a_few_errors(service):
    response = service.post("/act", {"observation": 0, "action_mask": ["x"] * 900})
    error = assert_error(response, 422)
    assert len(error["details"]) <= 5
    assert "more)" in error["message"]
    assert len(response.content) < 4096
