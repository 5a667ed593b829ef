"""The OpenAPI 3.1 document, generated from the same pydantic models that validate requests."""

from __future__ import annotations

from functools import lru_cache

from pydantic.json_schema import models_json_schema

from service.schemas import (
    ActRequest, ActResponse, ErrorResponse, ModelsResponse, ObservationRequest, PolicyStatus,
    PolicyTableResponse, ProbabilitiesResponse, ValueResponse,
)

_MODELS = [ActRequest, ActResponse, ErrorResponse, ModelsResponse, ObservationRequest, PolicyStatus,
           PolicyTableResponse, ProbabilitiesResponse, ValueResponse]


def _ref(model) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model) -> dict:
    return {"content": {"application/json": {"schema": _ref(model)}}}


def _errors(*statuses: int) -> dict:
    return {str(s): {"description": "Error", **_json(ErrorResponse)} for s in statuses}


def _post(summary: str, request_model, response_model) -> dict:
    return {"post": {
        "summary": summary,
        "requestBody": {"required": True, **_json(request_model)},
        "responses": {"200": {"description": "OK", **_json(response_model)}, **_errors(400, 404, 413, 415, 422, 503)},
    }}


def _get(summary: str, response_model=None, parameters=None, errors=(404, 503)) -> dict:
    ok = {"description": "OK", **(_json(response_model) if response_model else {})}
    operation = {"summary": summary, "responses": {"200": ok, **_errors(*errors)}}
    if parameters:
        operation["parameters"] = parameters
    return {"get": operation}


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    _, schemas = models_json_schema(
        [(m, "validation") for m in _MODELS], ref_template="#/components/schemas/{model}"
    )
    query = lambda name, schema: {"name": name, "in": "query", "required": False, "schema": schema}  # noqa: E731
    policy_post = _post("Action probabilities for the observation(s)", ObservationRequest, ProbabilitiesResponse)
    policy_get = _get(
        "The whole policy table: every cell with probabilities, greedy action and value", PolicyTableResponse,
        [query("policy", {"type": "string"}), query("version", {"type": "integer", "minimum": 1})], (404, 422, 503),
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": "lake-policy-server", "version": "1"},
        "paths": {
            "/act": _post("Action(s) for the observation(s), sampled or greedy", ActRequest, ActResponse),
            "/value": _post("The critic's V(s) for the observation(s)", ObservationRequest, ValueResponse),
            "/policy": {**policy_post, **policy_get},
            "/models": _get("Every policy, its versions and which one is served", ModelsResponse, errors=()),
            "/models/{name}": _get("One policy's versions", PolicyStatus, [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}], errors=(404,)),
            "/healthz": _get("Alive", errors=()),
            "/readyz": _get("Ready once a policy is loaded", errors=(503,)),
            "/v2/health/live": _get("Alive (Open Inference Protocol name)", errors=()),
            "/v2/health/ready": _get("Ready (Open Inference Protocol name)", errors=(503,)),
            "/metrics": _get("Prometheus metrics", errors=()),
        },
        "components": {"schemas": schemas["$defs"]},
    }
