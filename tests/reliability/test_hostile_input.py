"""Hostile and random input: property-based tests in-process, and a schema-driven fuzz run
against a real server. No input may produce a 500 or a body that is not the error shape."""

import json
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from policy_client.schemas import ActRequest, ObservationRequest
from service.settings import Settings
from tests.helpers import publish_models, random_models
from tests.processes import run
from tests.services import in_process_app
from tests.timing import seconds

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
request_like = st.fixed_dictionaries(
    {},
    optional={
        "observation": json_values | st.integers(-5, 40) | st.integers(min_value=2**62),
        "observations": st.lists(st.integers(-5, 40) | st.integers(min_value=2**62), max_size=5) | json_values,
        "mode": st.sampled_from(["sample", "greedy", "other"]) | json_values,
        "seed": st.integers(-10, 2**64) | json_values,
        "policy": st.sampled_from(["frozenlake-4x4", "nope", "Bad Name"]) | json_values,
        "version": st.integers(-1, 3) | json_values,
        "extra": json_values,
    },
)


@pytest.mark.parametrize("model", [ActRequest, ObservationRequest])
@given(document=request_like | json_values)
def test_request_models_accept_only_well_formed_requests(model, document):
    try:
        request = model.model_validate(document)
    except ValidationError:
        return
    assert isinstance(document, dict) and "extra" not in document
    observations = request.raw_observations
    assert observations and all(type(o) is int or type(o) is list for o in observations)
    assert (document.get("observation") is None) != (document.get("observations") is None)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    cache_dir = tmp_path_factory.mktemp("cache")
    publish_models(root, "frozenlake-4x4", *random_models())
    return in_process_app(Settings(artifact_root=root, max_batch=8), cache_dir).test_client()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=request_like | json_values, route=st.sampled_from(["/act", "/value", "/policy"]))
def test_no_request_body_gets_a_server_error(client, document, route):
    response = client.post(route, data=json.dumps(document), content_type="application/json")
    assert response.status_code in (200, 400, 404, 413, 415, 422)
    body = response.get_json()
    if response.status_code != 200:
        assert set(body["error"]) == {"status", "code", "message", "details"}
        assert body["error"]["status"] == response.status_code


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200), content_type=st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "application/json; charset=latin-1"]))
def test_no_raw_body_or_content_type_gets_a_server_error(client, raw, content_type):
    response = client.post("/act", data=raw, content_type=content_type)
    assert response.status_code in (200, 400, 404, 413, 415, 422)
    assert response.is_json


def test_schemathesis_finds_no_server_error_or_schema_violation(service):
    result = run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{service.url}/openapi.json",
         "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
         "--max-examples", "60", "--seed", "1", "--no-color",
         "--suppress-health-check", "all"],
        capture_output=True, text=True, timeout=seconds(200),
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
