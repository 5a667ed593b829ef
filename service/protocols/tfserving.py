"""TF Serving's REST API, served from the data plane.

A policy is a model; its versions and labels are TF Serving's. Two signatures, as a
SavedModel of the pair would have them:
- `serving_default`: the actor. Its output is the action probabilities, one row per
  instance, as TF Serving answers for a Keras model with one softmax output.
- `value`: the critic. Its output is V(s), `[v]` per instance (the critic's (batch, 1)).
`:predict` takes `instances` (row format, answered with `predictions`) or `inputs`
(columnar, answered with `outputs`); an instance is the observation itself (a state
`0` or `[0]`, or a Box vector) or `{"observation": ...}`. Errors are TF Serving's
`{"error": "<message>"}`.
"""

from __future__ import annotations

import json

from flask import Response

from service.dataplane import DataPlane, version_reference
from service.errors import InvalidRequest
from service.http import Route, json_response, read_json_body
from service.policy import ServedPolicy
from service.settings import Settings

SIGNATURES = ("serving_default", "value")
INPUT_NAMES = ("observation", "state")


class TfServingApi:
    def __init__(self, settings: Settings, plane: DataPlane):
        self.settings = settings
        self.plane = plane

    def routes(self) -> list[Route]:
        name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
        version = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
        label = {"name": "label", "in": "path", "required": True, "schema": {"type": "string"}}
        routes = []
        for prefix, params, suffix in [
            ("/v1/models/<name>", (name,), ""),
            ("/v1/models/<name>/versions/<version>", (name, version), "Version"),
            ("/v1/models/<name>/labels/<label>", (name, label), "Label"),
        ]:
            routes += [
                Route(prefix, "GET", self.status, f"tfsStatus{suffix}", "Model version status (TF Serving)",
                      "tf-serving", errors=(404, 422, 503), parameters=params, error_style="oip"),
                Route(f"{prefix}/metadata", "GET", self.metadata, f"tfsMetadata{suffix}",
                      "Signatures: serving_default (actor) and value (critic)", "tf-serving",
                      errors=(404, 422, 503), parameters=params, error_style="oip"),
                Route(f"{prefix}:predict", "POST", self.predict, f"tfsPredict{suffix}",
                      "Predict: actor probabilities (serving_default) or critic values (signature 'value')",
                      "tf-serving", errors=(400, 404, 413, 415, 422, 503), parameters=params, error_style="oip"),
            ]
        return routes

    def _policy(self, name: str, version: str | None, label: str | None) -> ServedPolicy:
        return self.plane.resolve(name, version_reference(version if version is not None else label))

    def status(self, name: str, version: str | None = None, label: str | None = None) -> Response:
        if version is None and label is None:
            entry = self.plane.registry.snapshot.policies.get(name)
            self.plane.resolve(name)  # 404/503 as for any other request
            statuses = [_version_status(r.version, r.state.value, r.error) for r in entry.record.versions]
        else:
            policy = self._policy(name, version, label)
            statuses = [_version_status(policy.version, "loaded", None)]
        # `name` and `ready` are KServe's V1 model-ready answer, beside TF Serving's own field.
        ready = any(status["state"] == "AVAILABLE" for status in statuses)
        return json_response(json.dumps({"model_version_status": statuses, "name": name, "ready": ready}))

    def metadata(self, name: str, version: str | None = None, label: str | None = None) -> Response:
        policy = self._policy(name, version, label)
        space = policy.observation_space
        if space.kind == "discrete":
            observation = {"dtype": "DT_INT32", "tensor_shape": _shape([-1, 1]), "name": "observation"}
        else:
            observation = {"dtype": "DT_FLOAT", "tensor_shape": _shape([-1, *space.shape]), "name": "observation"}

        def signature(output: str, width: int) -> dict:
            return {"inputs": {"observation": observation},
                    "outputs": {output: {"dtype": "DT_FLOAT", "tensor_shape": _shape([-1, width]), "name": output}},
                    "method_name": "tensorflow/serving/predict"}

        return json_response(json.dumps({
            "model_spec": {"name": name, "signature_name": "", "version": str(policy.version)},
            "metadata": {"signature_def": {"signature_def": {
                "serving_default": signature("probabilities", len(policy.action_names)),
                "value": signature("value", 1),
            }}},
        }))

    def predict(self, name: str, version: str | None = None, label: str | None = None) -> Response:
        body = read_json_body(self.settings.max_body_bytes, self.plane.max_json_values(), require_json_type=False)
        if not isinstance(body, dict):
            raise InvalidRequest("the body must be a JSON object with 'instances' or 'inputs'")
        signature = body.get("signature_name", "serving_default")
        if signature not in SIGNATURES:
            raise InvalidRequest(f"signature_name: {str(signature)[:40]!r} is not one of {list(SIGNATURES)}")
        if ("instances" in body) == ("inputs" in body):
            raise InvalidRequest("give exactly one of 'instances' (row format) or 'inputs' (columnar format)")
        row_format = "instances" in body
        raw = _unwrap(body["instances"] if row_format else body["inputs"], row_format)
        if len(raw) > self.settings.max_batch:
            raise InvalidRequest(f"at most {self.settings.max_batch} instances per request, got {len(raw)}")
        policy = self._policy(name, version, label)
        observations = self.plane.observations(policy, raw, "instances" if row_format else "inputs")
        if signature == "value":
            result = [[v] for v in self.plane.value(policy, observations).tolist()]
        else:
            result = self.plane.probabilities(policy, observations).tolist()
        key = "predictions" if row_format else "outputs"
        response = json_response(json.dumps({key: result}))
        response.headers["X-Model-Version"] = str(policy.version)
        return response


def _unwrap(data, row_format: bool) -> list:
    """Returns one JSON value per observation from row or columnar data."""
    if isinstance(data, dict):  # named input: {"observation": [...]}
        names = [n for n in data if n in INPUT_NAMES]
        if len(data) != 1 or not names:
            raise InvalidRequest(f"the one input is named {INPUT_NAMES[0]!r}")
        data = data[names[0]]
    if not isinstance(data, list) or not data:
        raise InvalidRequest("instances/inputs: a non-empty list, one entry per observation")
    if row_format and all(isinstance(item, dict) for item in data):
        if not all(len(item) == 1 and next(iter(item)) in INPUT_NAMES for item in data):
            raise InvalidRequest(f"each instance object has one key, {INPUT_NAMES[0]!r}")
        data = [next(iter(item.values())) for item in data]
    return data


def _shape(dims: list[int]) -> dict:
    return {"dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": False}


def _version_status(version: int, state: str, error: str | None) -> dict:
    tf_state = {"loaded": "AVAILABLE", "failed": "END", "removed": "END"}[state]
    return {"version": str(version), "state": tf_state,
            "status": {"error_code": "OK" if state == "loaded" else "UNKNOWN", "error_message": error or ""}}
