"""TF Serving's REST API, served from the data plane.

A policy is a model; its versions and labels are TF Serving's. Two signatures, as a
SavedModel of the pair would have them:
- `serving_default`: the actor. For discrete actions `:predict` answers the action
  probabilities, one row per instance, as TF Serving answers for a Keras model with one
  softmax output; `:classify` answers the same as TF Serving's classification results,
  `[action name, probability]` per action. For Box actions `:predict` answers three named
  outputs, as TF Serving answers for a model with several: `action` (the greedy action, the
  mean clipped to the bounds: predict takes no seed, so it samples nothing), `mean` and
  `std` (each of the action space's shape); `:classify` is a 400 (there are no classes).
- `value`: the critic. `:predict` answers V(s), `[v]` per instance (the critic's
  (batch, 1)); `:regress` answers it as regression results, one value per example, for
  either kind of action (regress is the critic's method here, not the actor's).
`:predict` takes `instances` (row format, answered with `predictions`) or `inputs`
(columnar, answered with `outputs`; a bare value is one observation, answered without a
batch dimension); an instance is the observation itself (a state `0` or `[0]`, or a Box
observation) or `{"observation": ...}`. `:classify` and `:regress` take `examples`, each
`{"observation": ...}` (and an optional `context` shared by all). Floats may be `NaN` or
`Infinity` as TF Serving's JSON mapping allows; no observation space holds them, so such an
observation is refused as outside its space.

Errors are TF Serving's `{"error": "<message>"}`, with its statuses: 400 for a bad request
(including a path or method it has no API for), 404 for an unknown model or version.
"""

from __future__ import annotations

import json
from typing import Any, Annotated

import numpy as np
from flask import Response, request
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from werkzeug.routing import BaseConverter

from service.dataplane import InferenceRequest, version_reference
from service.errors import InvalidRequest, MethodNotAllowed, RouteNotFound, ServiceError, UnsupportedForPolicy
from service.http import Api, Route, json_response, parse_json, path_parameter, read_body_bytes, validate
from service.policy import ServedPolicy
from service.protocols import bare_error_response
from policy_client.schemas import VersionState

INPUT_NAMES = ("observation", "state")
ACTOR, CRITIC = "serving_default", "value"
# Which signature each method may use; "" is the default signature, as in TF Serving.
SIGNATURES = {"predict": {"": ACTOR, ACTOR: ACTOR, CRITIC: CRITIC}, "classify": {"": ACTOR, ACTOR: ACTOR},
              "regress": {"": CRITIC, CRITIC: CRITIC}}
SIGNATURE_DEF_MAP = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
# TensorFlow's names of the spaces' wire datatypes (policy_artifacts.spaces).
TF_DTYPES = {np.dtype(np.int64): "DT_INT64", np.dtype(np.int32): "DT_INT32", np.dtype(np.float32): "DT_FLOAT",
             np.dtype(np.float64): "DT_DOUBLE"}
# TF Serving's version states, for the loader's.
TF_STATES = {VersionState.LOADED: "AVAILABLE", VersionState.LOADING: "LOADING", VersionState.FAILED: "END",
             VersionState.REMOVED: "END"}


class ModelSegment(BaseConverter):
    """A model name, version or label in a TF Serving path: it ends at '/' or ':', so
    `GET /v1/models/m:predict` is not the status of a model named "m:predict"."""

    regex = r"[^/:]+"


CONVERTERS = {"tfs": ModelSegment}


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signature_name: StrictStr = ""
    instances: Any = None
    inputs: Any = None


class ExamplesRequest(BaseModel):
    """The body of `:classify` and `:regress`."""

    model_config = ConfigDict(extra="forbid")

    signature_name: StrictStr = ""
    context: dict[str, Any] | None = None
    examples: Annotated[list[dict[str, Any]], Field(min_length=1)]


def render_error(error: ServiceError) -> Response:
    """Returns TF Serving's error answer; a path or method it has no API for is its
    "Malformed request", a 400."""
    if isinstance(error, (RouteNotFound, MethodNotAllowed)):
        error = InvalidRequest(f"Malformed request: {request.method} {request.path[:200]}")
    return bare_error_response(error)


class TfServingApi(Api):
    def routes(self) -> list[Route]:
        name, version, label = path_parameter("name"), path_parameter("version"), path_parameter("label")
        routes = []
        for prefix, params, suffix in [
            ("/v1/models/<tfs:name>", (name,), ""),
            ("/v1/models/<tfs:name>/versions/<tfs:version>", (name, version), "Version"),
            ("/v1/models/<tfs:name>/labels/<tfs:label>", (name, label), "Label"),
        ]:
            for path, method, handler, operation, summary, errors in [
                (prefix, "GET", self.status, "tfsStatus", "Model version status (TF Serving)", (400, 404, 503)),
                (f"{prefix}/metadata", "GET", self.metadata, "tfsMetadata",
                 "Signatures: serving_default (actor) and value (critic)", (400, 404, 503)),
                (f"{prefix}:predict", "POST", self.predict, "tfsPredict",
                 "Predict: actor probabilities (serving_default) or critic values (signature 'value')",
                 (400, 404, 408, 413, 503)),
                (f"{prefix}:classify", "POST", self.classify, "tfsClassify",
                 "Classify: each action's name and probability", (400, 404, 408, 413, 503)),
                (f"{prefix}:regress", "POST", self.regress, "tfsRegress", "Regress: the critic's value",
                 (400, 404, 408, 413, 503)),
            ]:
                routes.append(Route(path, method, handler, operation + suffix, summary, "tf-serving",
                                    errors=errors, parameters=params, error_style="tfserving"))
        return routes

    def status(self, name: str, version: str | None = None, label: str | None = None) -> Response:
        reference = version_reference(version if version is not None else label)
        view = self.plane.model(name, reference)
        if reference is None:
            statuses = [_version_status(r.version, r.state, r.error) for r in view.entry.record.versions]
        else:
            statuses = [_version_status(view.policy.version, VersionState.LOADED, None)]
        return json_response(json.dumps({"model_version_status": statuses}))

    def metadata(self, name: str, version: str | None = None, label: str | None = None) -> Response:
        policy = self.plane.model(name, version_reference(version if version is not None else label)).policy
        space = policy.observation_space
        observation = {"dtype": TF_DTYPES[space.wire_dtype], "tensor_shape": _shape([-1, *space.wire_shape]),
                       "name": "observation"}

        # Each output's dtype is the one the Open Inference Protocol's metadata gives it
        # (the policy's OutputSpec): a client reading either sees the same tensors.
        specs = {spec.name: spec for spec in policy.outputs}

        def signature(outputs: dict[str, tuple[int, ...]]) -> dict:
            return {"inputs": {"observation": observation},
                    "outputs": {output: {"dtype": TF_DTYPES[specs[output].dtype], "tensor_shape": _shape([-1, *shape]),
                                         "name": output}
                                for output, shape in outputs.items()},
                    "method_name": "tensorflow/serving/predict"}

        shapes = {spec.name: spec.shape for spec in policy.outputs}
        return json_response(json.dumps({
            "model_spec": {"name": name, "signature_name": "", "version": str(policy.version)},
            "metadata": {"signature_def": {"@type": SIGNATURE_DEF_MAP, "signature_def": {
                ACTOR: signature({output: shapes[output] for output in _actor_outputs(policy)}),
                CRITIC: signature({"value": (1,)}),
            }}},
        }))

    def predict(self, name: str, version: str | None = None, label: str | None = None) -> Response:
        body: PredictRequest = validate(PredictRequest, self._read_body(), self.settings.max_error_details)
        signature = _signature("predict", body.signature_name)
        row_format = "instances" in body.model_fields_set
        if row_format == ("inputs" in body.model_fields_set):
            raise InvalidRequest("give exactly one of 'instances' (row format) or 'inputs' (columnar format)")
        observations, batched = _predict_observations(body.instances if row_format else body.inputs, row_format)
        outputs = _actor_outputs if signature == ACTOR else ("value",)
        answer = self._infer(name, version, label, observations, outputs, "instances" if row_format else "inputs")
        results = {output: array.tolist() for output, array in answer.outputs.items()}
        if "value" in results:
            results["value"] = [[v] for v in results["value"]]
        if len(results) == 1:  # one output: its rows alone, as TF Serving answers for a model with one
            result = next(iter(results.values()))
            document = {"predictions" if row_format else "outputs": result if batched else result[0]}
        elif row_format:  # several: an object per instance
            document = {"predictions": [dict(zip(results, row)) for row in zip(*results.values())]}
        else:  # several, columnar: an object of outputs
            document = {"outputs": {output: rows if batched else rows[0] for output, rows in results.items()}}
        return self._respond(document, answer.policy.version)

    def classify(self, name: str, version: str | None = None, label: str | None = None) -> Response:
        body: ExamplesRequest = validate(ExamplesRequest, self._read_body(), self.settings.max_error_details)
        _signature("classify", body.signature_name)
        answer = self._infer(name, version, label, _example_observations(body), _classes, "examples")
        names = answer.policy.action_names
        results = [[[names[a], p] for a, p in enumerate(row)] for row in answer.outputs["probabilities"].tolist()]
        return self._respond({"results": results}, answer.policy.version)

    def regress(self, name: str, version: str | None = None, label: str | None = None) -> Response:
        body: ExamplesRequest = validate(ExamplesRequest, self._read_body(), self.settings.max_error_details)
        _signature("regress", body.signature_name)
        answer = self._infer(name, version, label, _example_observations(body), ("value",), "examples")
        return self._respond({"results": answer.outputs["value"].tolist()}, answer.policy.version)

    # ---- helpers -----------------------------------------------------------------------

    def _read_body(self) -> Any:
        """Returns the parsed body; NaN, Infinity and -Infinity are numbers here, as TF
        Serving's JSON mapping has them."""
        raw = read_body_bytes(self.settings.max_body_bytes)
        return parse_json(raw, self.plane.max_json_values(), allow_non_finite=True)

    def _infer(self, name, version, label, observations: list, outputs, field: str):
        return self.plane.infer(InferenceRequest(
            policy=name, version=version_reference(version if version is not None else label),
            observations=observations, outputs=outputs, greedy=True, field=field))

    @staticmethod
    def _respond(document: dict, version: int) -> Response:
        response = json_response(json.dumps(document))
        response.headers["X-Model-Version"] = str(version)
        return response


def _actor_outputs(policy: ServedPolicy) -> tuple[str, ...]:
    """Returns what the actor signature answers: the action distribution, and for Box
    actions the greedy action with it (a discrete policy's is its probabilities' argmax)."""
    distribution = tuple(spec.name for spec in policy.distribution_outputs)
    return distribution if distribution == ("probabilities",) else ("action", *distribution)


def _classes(policy: ServedPolicy) -> tuple[str, ...]:
    """Returns the output `:classify` answers from, or raises for a policy without classes."""
    if "probabilities" not in {spec.name for spec in policy.outputs}:
        raise UnsupportedForPolicy(
            f"classify: {policy.name} has {policy.action_space.kind} actions, not classes; use :predict "
            "(action, mean and std)", details=[{"field": "signature_name"}])
    return ("probabilities",)


def _signature(method: str, name: str) -> str:
    """Returns the signature a method runs, or raises InvalidRequest (TF Serving's 400)."""
    allowed = SIGNATURES[method]
    if name not in allowed:
        raise InvalidRequest(f"Serving signature name: {name[:40]!r} not found for {method}; "
                             f"use one of {sorted(n for n in allowed if n)}")
    return allowed[name]


def _named(data: dict, where: str):
    """Returns the value of the one input in {"observation": value}."""
    if len(data) != 1 or next(iter(data)) not in INPUT_NAMES:
        raise InvalidRequest(f"{where}: the one input is named {INPUT_NAMES[0]!r}, got {[k[:40] for k in data][:3]}")
    return next(iter(data.values()))


def _predict_observations(data, row_format: bool) -> tuple[list, bool]:
    """Returns (one JSON value per observation, whether the request had a batch dimension)."""
    if row_format:
        if not isinstance(data, list) or not data:
            raise InvalidRequest("instances: a non-empty list, one entry per observation")
        if all(isinstance(item, dict) for item in data):
            return [_named(item, "instances") for item in data], True
        return data, True
    if isinstance(data, dict):
        data = _named(data, "inputs")
    if not isinstance(data, list):
        return [data], False  # a bare value: one observation
    if not data:
        raise InvalidRequest("inputs: a non-empty list, one entry per observation")
    return data, True


def _example_observations(body: ExamplesRequest) -> list:
    """Returns one observation per example, its features merged with the context's."""
    context = body.context or {}
    observations = []
    for index, example in enumerate(body.examples):
        shared = context.keys() & example.keys()
        if shared:
            raise InvalidRequest(f"examples[{index}]: {sorted(shared)[0][:40]!r} is in the context too")
        observations.append(_named({**context, **example}, f"examples[{index}]"))
    return observations


def _shape(dims: list[int]) -> dict:
    return {"dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": False}


def _version_status(version: int, state: VersionState, error: str | None) -> dict:
    return {"version": str(version), "state": TF_STATES[state],
            "status": {"error_code": "OK" if state is VersionState.LOADED else "UNKNOWN", "error_message": error or ""}}
