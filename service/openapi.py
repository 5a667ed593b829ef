"""The OpenAPI 3.1 document, generated from the route table and the pydantic models that
validate requests, so no route can be served undocumented."""

from __future__ import annotations

import re

from pydantic.json_schema import models_json_schema

from service.http import Route
from policy_client.schemas import ErrorResponse

DESCRIPTION = (
    "Keras A2C policies for any gymnasium environment with discrete actions: discrete observations "
    "(FrozenLake, Taxi, CliffWalking: an integer state) and Box observations (CartPole, Acrobot: a list of "
    "numbers of the space's shape). The same policies through the service's own API, the Open Inference "
    "Protocol (/v2) and TF Serving's REST API (/v1). Each answers errors in its own convention: the "
    "service's own API sends {\"error\": {status, code, message, details}} and 422 for a well-formed request "
    "with values it cannot take; the Open Inference Protocol and TF Serving send {\"error\": \"<message>\"} "
    "and 400 for every bad request, as their specifications say."
)
BARE_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def _ref(model) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule)


def _operation(route: Route) -> dict:
    ok = {"description": "OK", **(_json(_ref(route.response_model)) if route.response_model else {})}
    error_schema = _ref(ErrorResponse) if route.error_style == "native" else BARE_ERROR
    operation = {
        "operationId": route.operation_id, "summary": route.summary, "tags": [route.tag],
        "responses": {"200": ok, **{str(s): {"description": "Error", **_json(error_schema)} for s in route.errors}},
    }
    if route.request_model:
        operation["requestBody"] = {"required": True, **_json(_ref(route.request_model))}
    if route.parameters:
        operation["parameters"] = list(route.parameters)
    return operation


def openapi_document(routes: list[Route], title: str = "keras-policy-server") -> dict:
    models = {m for r in routes for m in (r.request_model, r.response_model) if m} | {ErrorResponse}
    _, schemas = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict] = {}
    for route in routes:
        paths.setdefault(_openapi_path(route.path), {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "2", "description": DESCRIPTION},
        "tags": [{"name": tag} for tag in dict.fromkeys(r.tag for r in routes)],
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {})},
    }
