"""The Open Inference Protocol (KServe V2, Triton's HTTP API), served from the data plane.

A policy is a model and its versions are model versions (labels too). One input,
`observation`, the observations as one tensor (any integer type, [batch] or [batch, 1], for
discrete spaces; `FP32`/`FP64` [batch, *shape] for Box spaces; a batch may be empty; the
metadata names the space's wire datatype, `policy_artifacts.spaces`),
JSON or binary (the binary tensor data extension). Outputs are the policy's own
(`ServedPolicy.outputs`), and the metadata lists them: for discrete actions `action` (INT64
[batch]), `probabilities` (FP64 [batch, actions]) and `value` (FP64 [batch]); for Box
actions `action` (FP32 [batch, *shape], clipped to the bounds), `mean` and `std` (FP64
[batch, *shape], the Gaussian before clipping) and `value`. All of them unless the request
names some, then those, in its order. Request `parameters`: `mode` ("sample", the default
as for /act, or "greedy"), `seed`, `action_mask` (JSON text of /act's mask; discrete
actions only).

Errors are the protocol's `{"error": "<message>"}`, and a bad request is a 400 (the
service's own API says 422 for some of the same requests; each keeps its convention).
Health probes answer 200 for true and 400 for false.

The model repository extension is Triton's in its POLL model-control mode: the index
lists every version the loader knows of, and explicit load and unload are refused,
because versions are loaded by the loader as they are published (pin one with
POLICY_PINNED_VERSIONS).
"""

from __future__ import annotations

import json

import numpy as np
from flask import Response, request

from service.dataplane import OUTPUTS, InferenceAnswer, InferenceRequest, Output, version_reference
from service.errors import InvalidRequest, NotReady, ProbeFalse, ServiceError, refuse_large_batch
from service.http import (
    Api, Route, json_response, parse_json, path_parameter, read_body_bytes, read_json_body, validate,
)
from service.policy import ServedPolicy
from service.protocols import bare_error_response
from service.protocols.oip_types import InferRequest, RepositoryIndexRequest
from service.protocols.tensors import BINARY_HEADER, DATATYPE_NAMES, encode_output, split_binary_body, tensor_array
from policy_client.schemas import VersionState

INPUT_NAME = "observation"
SERVER_NAME, SERVER_VERSION = "keras-policy-server", "2"
EXTENSIONS = ["binary_tensor_data", "model_repository"]
# Triton's model states, for the loader's version states.
STATES = {VersionState.LOADED: "READY", VersionState.LOADING: "LOADING", VersionState.FAILED: "UNAVAILABLE",
          VersionState.REMOVED: "UNAVAILABLE"}


def render_error(error: ServiceError) -> Response:
    """Returns the protocol's error answer: `{"error": "<message>"}`, 400 for a bad request."""
    return bare_error_response(error)


def _versioned(path: str) -> list[str]:
    return [f"/v2/models/<name>{path}", f"/v2/models/<name>/versions/<version>{path}"]


class OpenInferenceApi(Api):
    def routes(self) -> list[Route]:
        name_param, version_param = path_parameter("name"), path_parameter("version")

        def route(path, method, handler, operation, summary, errors=(), parameters=()):
            return Route(path, method, handler, operation, summary, "open-inference", errors=errors,
                         parameters=parameters, error_style="oip")

        routes = [
            # The specification writes the path with a trailing slash; Triton's clients leave it off.
            route("/v2", "GET", self.server_metadata, "oipServerMetadata", "Server metadata"),
            route("/v2/", "GET", self.server_metadata, "oipServerMetadataSlash", "Server metadata"),
            route("/v2/health/live", "GET", self.live, "oipServerLive", "Alive: 200"),
            route("/v2/health/ready", "GET", self.ready, "oipServerReady",
                  "Ready (200) once a policy is served, else 400", errors=(400,)),
            route("/v2/repository/index", "POST", self.repository_index, "oipRepositoryIndex",
                  "Every policy version and its state; {\"ready\": true} lists only the ready ones", errors=(400, 413)),
        ]
        for verb in ("load", "unload"):
            routes.append(route(f"/v2/repository/models/<name>/{verb}", "POST", self.model_control,
                                f"oipRepositoryModel{verb.title()}",
                                "Always 400: versions are loaded as they are published (Triton's POLL mode)",
                                errors=(400,), parameters=(name_param,)))
        for suffix, handler, method, summary, operation, errors in [
            ("", self.model_metadata, "GET", "Model metadata: inputs and outputs", "oipModelMetadata", (400, 404, 503)),
            ("/ready", self.model_ready, "GET", "Model ready: 200, else 400 or 404", "oipModelReady", (400, 404)),
            ("/config", self.model_config, "GET", "Model configuration (Triton)", "oipModelConfig", (400, 404, 503)),
            ("/infer", self.infer, "POST", "Inference: actions, their distribution and values", "oipInfer",
             (400, 404, 408, 413, 503)),
        ]:
            for path in _versioned(suffix):
                versioned = "<version>" in path
                routes.append(route(path, method, handler, operation + ("Version" if versioned else ""), summary,
                                    errors, (name_param, version_param) if versioned else (name_param,)))
        return routes

    # ---- server ------------------------------------------------------------------------

    def server_metadata(self) -> Response:
        return json_response(json.dumps({"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": EXTENSIONS}))

    def live(self) -> Response:
        return json_response('{"live": true}')

    def ready(self) -> Response:
        if not self.plane.is_ready():
            raise ProbeFalse("no policy is loaded yet")
        return json_response('{"ready": true}')

    def repository_index(self) -> Response:
        raw = read_body_bytes(self.settings.max_body_bytes)
        document = parse_json(raw, self.plane.max_json_values()) if raw.strip() else {}
        only_ready = validate(RepositoryIndexRequest, document, self.settings.max_error_details).ready
        index = [
            {"name": entry.name, "version": str(record.version), "state": STATES[record.state],
             "reason": record.error or ""}
            for entry in self.plane.repository() for record in entry.record.versions
            if not only_ready or record.state is VersionState.LOADED
        ]
        return json_response(json.dumps(index))

    def model_control(self, name: str) -> Response:
        raise InvalidRequest(
            f"explicit model load and unload are not allowed for {name[:80]!r}: this server polls its artifact root and "
            "loads each version as it is published (pin a version with POLICY_PINNED_VERSIONS)")

    # ---- models ------------------------------------------------------------------------

    def model_metadata(self, name: str, version: str | None = None) -> Response:
        view = self.plane.model(name, version_reference(version))
        inputs, outputs = _signature(view.policy)
        return json_response(json.dumps({
            "name": name, "versions": [str(v) for v in sorted(view.entry.loaded)],
            "platform": _platform(view.policy), "inputs": inputs, "outputs": outputs,
        }))

    def model_ready(self, name: str, version: str | None = None) -> Response:
        try:
            policy = self.plane.model(name, version_reference(version)).policy
        except NotReady as exc:
            raise ProbeFalse(exc.message) from None
        return json_response(json.dumps({"name": name, "version": str(policy.version), "ready": True}))

    def model_config(self, name: str, version: str | None = None) -> Response:
        policy = self.plane.model(name, version_reference(version)).policy
        inputs, outputs = _signature(policy)

        def config(tensor: dict) -> dict:
            # Triton's dims leave out the batch dimension; a tensor that is the batch alone
            # is dims [1] reshaped to [], as Triton writes it (and reports as [-1]).
            entry = {"name": tensor["name"], "data_type": f"TYPE_{tensor['datatype']}", "dims": tensor["shape"][1:]}
            if not entry["dims"]:
                entry.update(dims=[1], reshape={"shape": []})
            return entry

        return json_response(json.dumps({
            "name": name, "platform": _platform(policy), "max_batch_size": self.settings.max_batch,
            "input": [config(t) for t in inputs], "output": [config(t) for t in outputs],
            "version_policy": {"specific": {"versions": [policy.version]}},
        }))

    # ---- inference ---------------------------------------------------------------------

    def infer(self, name: str, version: str | None = None) -> Response:
        document, binary = self._read_request()
        body: InferRequest = validate(InferRequest, document, self.settings.max_error_details)
        parameters = body.parameters
        wanted, binary_default = _wanted_outputs(body)
        answer = self.plane.infer(InferenceRequest(
            policy=name, version=version_reference(version), observations=self._observations(body, binary),
            outputs=tuple(wanted) if wanted else None, greedy=parameters is not None and parameters.mode == "greedy",
            seed=parameters.seed if parameters else None,
            action_mask=_action_mask(parameters.action_mask) if parameters else None, field="inputs[0]",
        ))
        return _answer(body, answer, {name: wanted.get(name, binary_default) for name in answer.outputs})

    def _read_request(self) -> tuple[object, bytes | None]:
        header_length = request.headers.get(BINARY_HEADER)
        if header_length is None:
            # Clients of the protocol do not all send a JSON content type; the body is JSON by definition.
            return read_json_body(self.settings.max_body_bytes, self.plane.max_json_values(), require_json_type=False), None
        raw = read_body_bytes(self.settings.max_body_bytes)
        return split_binary_body(raw, header_length, self.plane.max_json_values())

    def _observations(self, body: InferRequest, binary: bytes | None) -> np.ndarray:
        """Returns the one input's tensor, decoded but not yet checked against a policy."""
        names = [tensor.name[:40] for tensor in body.inputs]
        if names != [INPUT_NAME]:
            raise InvalidRequest(f"inputs: this model takes one input, {INPUT_NAME!r}, got {names[:3]}")
        tensor = body.inputs[0]
        refuse_large_batch(tensor.shape[0], self.settings.max_batch, "inputs[0]")  # before decoding its data
        size = tensor.parameters.binary_data_size if tensor.parameters else None
        if size is None:
            if binary:
                raise InvalidRequest(f"inputs[0]: {len(binary)} binary bytes follow the JSON, but no input is binary")
            if tensor.data is None:
                raise InvalidRequest("inputs[0]: 'data' is required unless the tensor is sent as binary data")
            return tensor_array(INPUT_NAME, tensor.datatype, tensor.shape, tensor.data)
        if binary is None or size != len(binary):
            raise InvalidRequest(f"inputs[0]: binary_data_size {size} does not match the "
                                 f"{0 if binary is None else len(binary)} binary bytes sent")
        return tensor_array(INPUT_NAME, tensor.datatype, tensor.shape, raw=binary)


def _wanted_outputs(body: InferRequest) -> tuple[dict[Output, bool], bool]:
    """Returns ({output: sent as binary} in the order the request names them, empty when it
    names none, meaning all of the model's; whether others are sent as binary): a per-output
    `binary_data` overrides the request's `binary_data_output`. Whether the model has an
    output is the data plane's check, against the policy the request resolves to."""
    default = body.parameters.binary_data_output if body.parameters else False
    wanted = {}
    for output in body.outputs or ():
        if output.name not in OUTPUTS or output.name in wanted:
            problem = "is asked for twice" if output.name in wanted else "is not an output of this model"
            raise InvalidRequest(f"outputs: {output.name[:40]!r} {problem}")
        own = output.parameters.binary_data if output.parameters else None
        wanted[output.name] = default if own is None else own
    return wanted, default


def _action_mask(text: str | None):
    """Returns the mask the parameter's JSON text holds (checked by the data plane)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidRequest('parameters.action_mask: JSON text of a list of 0/1, e.g. "[1, 0, 1, 1]"') from None


def _answer(body: InferRequest, answer: InferenceAnswer, wanted: dict[str, bool]) -> Response:
    tensors, chunks = [], []
    datatypes = {spec.name: DATATYPE_NAMES[spec.dtype] for spec in answer.policy.outputs}
    for name, array in answer.outputs.items():
        tensor, data = encode_output(name, array, datatypes[name], wanted[name])
        tensors.append(tensor)
        chunks.append(data)
    document = {"model_name": answer.policy.name, "model_version": str(answer.policy.version), "outputs": tensors}
    if body.id is not None:
        document["id"] = body.id
    header = json.dumps(document).encode()
    if not any(wanted.values()):
        return json_response(header)
    response = Response(header + b"".join(chunks), mimetype="application/octet-stream")
    response.headers[BINARY_HEADER] = str(len(header))
    return response


def _platform(policy: ServedPolicy) -> str:
    """Returns what runs the version: its per-state tables, or its ONNX models."""
    return "numpy_tables" if policy.is_tabular else "onnxruntime_onnx"


def _signature(policy: ServedPolicy) -> tuple[list[dict], list[dict]]:
    space = policy.observation_space
    observation = {"name": INPUT_NAME, "datatype": DATATYPE_NAMES[space.wire_dtype], "shape": [-1, *space.wire_shape]}
    outputs = [{"name": spec.name, "datatype": DATATYPE_NAMES[spec.dtype], "shape": [-1, *spec.shape]}
               for spec in policy.outputs]
    return [observation], outputs
