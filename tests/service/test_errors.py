"""Every client mistake gets a 4xx with the one JSON error shape, never a 500."""

import json

import pytest


def assert_error(response, status, code=None, mentions=()):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == status and error["message"]
    if code:
        assert error["code"] == code
    for text in mentions:
        assert text in json.dumps(error)
    return error


@pytest.mark.parametrize(
    "payload, mentions",
    [
        ({"observation": 16}, ["observation", "0..15"]),
        ({"observations": [0, 3, 99]}, ["observations", "0..15"]),
        ({"observation": -1}, ["observation"]),
        ({"observations": [1, -2]}, ["non-negative"]),
        ({"observation": 1.0}, ["observation"]),
        ({"observation": True}, ["observation"]),
        ({"observation": "3"}, ["observation"]),
        ({"observation": None}, ["exactly one"]),
        ({}, ["exactly one"]),
        ({"observation": 1, "observations": [1]}, ["exactly one"]),
        ({"observations": []}, ["observations"]),
        ({"observation": 1, "temperature": 2}, ["temperature"]),
        ({"observation": 1, "mode": "random"}, ["mode"]),
        ({"observation": 1, "seed": -5}, ["seed"]),
        ({"observation": 1, "version": 0}, ["version"]),
        ([1, 2], []),
        ("just a string", []),
    ],
)
def test_invalid_requests_are_422_naming_the_field(service, payload, mentions):
    assert_error(service.post("/act", payload), 422, mentions=mentions)


def test_batch_over_the_limit_is_422_with_the_limit(service):
    assert_error(service.post("/value", {"observations": [0] * 1001}), 422, mentions=["1000"])


def test_unknown_policy_and_version_are_404(service):
    assert_error(service.post("/act", {"observation": 0, "policy": "nope"}), 404, "policy_not_found")
    assert_error(service.post("/act", {"observation": 0, "version": 9}), 404, "version_not_found", ["allowed"])
    assert_error(service.get("/models/nope"), 404)
    assert_error(service.get("/policy", params={"policy": "nope"}), 404)


def test_non_json_bodies_are_refused(service):
    assert_error(service.post("/act", data="observation=1",
                              headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    assert_error(service.post("/act", data="{nope", headers={"Content-Type": "application/json"}), 400, "malformed_json")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(service, constant):
    response = service.post("/act", data=f'{{"observation": {constant}}}', headers={"Content-Type": "application/json"})
    assert_error(response, 400, mentions=[constant])


def test_deeply_nested_json_is_refused_not_crashed(service):
    body = '{"observation": ' + "[" * 5000 + "]" * 5000 + "}"
    response = service.post("/act", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    assert "error" in response.json()


def test_oversized_body_is_413(service):
    body = json.dumps({"observations": [1] * 40000})  # > 64 KiB, the limit this fixture sets
    response = service.post("/act", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 413)


def test_unknown_route_and_wrong_method_keep_the_error_shape(service):
    assert_error(service.get("/nowhere"), 404)
    error_response = service.get("/act")
    assert_error(error_response, 405)
    assert "POST" in error_response.headers["Allow"]


def test_bad_version_query_is_422_and_an_unknown_label_404(service):
    assert_error(service.get("/policy", params={"version": "1.5"}), 422, mentions=["version"])
    assert_error(service.get("/policy", params={"version": "canary"}), 404, "version_not_found", ["latest"])
