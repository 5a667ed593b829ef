"""The Open Inference Protocol (KServe V2, Triton's HTTP API), served from the data plane.

A policy is a model and its versions are model versions (labels too). One input, the
observations as one tensor (`INT64`/`INT32` [batch] or [batch, 1] for discrete spaces,
`FP32`/`FP64` [batch, *shape] for Box spaces), JSON or binary (the binary tensor data
extension). Outputs `action` (INT64 [batch]), `probabilities` (FP64 [batch, actions]) and
`value` (FP64 [batch]), all three unless the request names some. Request `parameters`:
`mode` ("sample", the default as for /act, or "greedy"), `seed`, `action_mask`. Errors are
the protocol's `{"error": "<message>"}`.
"""

from __future__ import annotations

import json

import numpy as np
from flask import Response, request

from policy_artifacts.manifest import DiscreteSpace
from service.dataplane import DataPlane, version_reference
from service.errors import InvalidRequest
from service.http import Route, json_response, read_body_bytes, read_json_body
from service.policy import ServedPolicy
from service.protocols.tensors import (
    BINARY_HEADER, FLOAT_TYPES, INTEGER_TYPES, encode_output, split_binary_body, tensor_array,
)
from service.settings import Settings

OUTPUTS = ("action", "probabilities", "value")
OUTPUT_TYPES = {"action": "INT64", "probabilities": "FP64", "value": "FP64"}
SERVER_NAME, SERVER_VERSION = "lake-policy-server", "2"
EXTENSIONS = ["binary_tensor_data", "model_repository"]


def _versioned(path: str) -> list[str]:
    return [f"/v2/models/<name>{path}", f"/v2/models/<name>/versions/<version>{path}"]


class OpenInferenceApi:
    def __init__(self, settings: Settings, plane: DataPlane):
        self.settings = settings
        self.plane = plane

    def routes(self) -> list[Route]:
        name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
        version_param = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
        routes = [
            Route("/v2", "GET", self.server_metadata, "oipServerMetadata", "Server metadata", "open-inference",
                  error_style="oip"),
            Route("/v2/health/live", "GET", self.live, "oipServerLive", "Alive: {\"live\": true}", "open-inference",
                  error_style="oip"),
            Route("/v2/health/ready", "GET", self.ready, "oipServerReady", "Ready once a policy is loaded",
                  "open-inference", errors=(503,), error_style="oip"),
            Route("/v2/repository/index", "POST", self.repository_index, "oipRepositoryIndex",
                  "Every policy version and its state (Triton's repository index)", "open-inference",
                  error_style="oip"),
        ]
        for suffix, handler, method, summary, operation in [
            ("", self.model_metadata, "GET", "Model metadata: inputs and outputs", "oipModelMetadata"),
            ("/ready", self.model_ready, "GET", "Model ready", "oipModelReady"),
            ("/config", self.model_config, "GET", "Model configuration (Triton)", "oipModelConfig"),
            ("/infer", self.infer, "POST", "Inference: actions, probabilities and values", "oipInfer"),
        ]:
            for path in _versioned(suffix):
                versioned = "<version>" in path
                routes.append(Route(
                    path, method, handler, operation + ("Version" if versioned else ""), summary, "open-inference",
                    errors=(400, 404, 413, 415, 422, 503) if method == "POST" else (404, 503),
                    parameters=(name_param, version_param) if versioned else (name_param,), error_style="oip",
                ))
        return routes

    # ---- server ------------------------------------------------------------------------

    def server_metadata(self) -> Response:
        return json_response(json.dumps({"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": EXTENSIONS}))

    def live(self) -> Response:
        return json_response('{"live": true}')

    def ready(self) -> Response:
        self.plane.resolve_any()
        return json_response('{"ready": true}')

    def repository_index(self) -> Response:
        index = []
        for name, entry in self.plane.registry.snapshot.policies.items():
            for record in entry.record.versions:
                state = {"loaded": "READY", "failed": "UNAVAILABLE", "removed": "UNAVAILABLE"}[record.state.value]
                index.append({"name": name, "version": str(record.version), "state": state,
                              "reason": record.error or ""})
        return json_response(json.dumps(index))

    # ---- models ------------------------------------------------------------------------

    def _policy(self, name: str, version: str | None) -> ServedPolicy:
        return self.plane.resolve(name, version_reference(version))

    def model_metadata(self, name: str, version: str | None = None) -> Response:
        policy = self._policy(name, version)
        entry = self.plane.registry.snapshot.policies[name]
        inputs, outputs = _signature(policy)
        return json_response(json.dumps({
            "name": name, "versions": [str(v) for v in sorted(entry.loaded)],
            "platform": "onnxruntime_onnx" if not policy.is_tabular else "lake_tables",
            "inputs": inputs, "outputs": outputs,
        }))

    def model_ready(self, name: str, version: str | None = None) -> Response:
        policy = self._policy(name, version)
        return json_response(json.dumps({"name": name, "version": str(policy.version), "ready": True}))

    def model_config(self, name: str, version: str | None = None) -> Response:
        policy = self._policy(name, version)
        inputs, outputs = _signature(policy)
        dims = lambda shape: shape[1:] or [1]  # noqa: E731  (Triton's dims leave out the batch)
        return json_response(json.dumps({
            "name": name, "platform": "onnxruntime_onnx" if not policy.is_tabular else "lake_tables",
            "max_batch_size": self.settings.max_batch,
            "input": [{"name": t["name"], "data_type": f"TYPE_{t['datatype']}", "dims": dims(t["shape"])}
                      for t in inputs],
            "output": [{"name": t["name"], "data_type": f"TYPE_{t['datatype']}", "dims": dims(t["shape"])}
                       for t in outputs],
            "version_policy": {"specific": {"versions": [policy.version]}},
        }))

    # ---- inference ---------------------------------------------------------------------

    def infer(self, name: str, version: str | None = None) -> Response:
        body, binary = self._read_request()
        if not isinstance(body, dict):
            raise InvalidRequest("the inference request must be a JSON object with 'inputs'")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise InvalidRequest("parameters: must be an object")
        mode, seed = parameters.get("mode", "sample"), parameters.get("seed")
        if mode not in ("sample", "greedy"):
            raise InvalidRequest(f"parameters.mode: 'sample' or 'greedy', got {str(mode)[:40]!r}")
        if seed is not None and (type(seed) is not int or not 0 <= seed < 2**63):
            raise InvalidRequest("parameters.seed: a non-negative integer below 2**63")
        reference = version_reference(version)
        policy = self.plane.resolve(name, reference, seed)
        observations = self._observations(policy, body.get("inputs"), binary)
        wanted, binary_outputs = self._wanted_outputs(body)
        results = {}
        if "action" in wanted:
            mask = self.plane.action_mask(policy, parameters.get("action_mask"), len(observations))
            results["action"] = self.plane.act(policy, observations, mode == "greedy", seed, mask).astype(np.int64)
        if "probabilities" in wanted:
            results["probabilities"] = self.plane.probabilities(policy, observations)
        if "value" in wanted:
            results["value"] = self.plane.value(policy, observations)
        return self._answer(body, policy, results, binary_outputs)

    def _read_request(self) -> tuple[object, bytes | None]:
        header_length = request.headers.get(BINARY_HEADER)
        if header_length is None:
            # Clients of the protocol do not all send a JSON content type; the body is JSON by definition.
            return read_json_body(self.settings.max_body_bytes, self.plane.max_json_values(), require_json_type=False), None
        raw = read_body_bytes(self.settings.max_body_bytes)
        return split_binary_body(raw, header_length, self.plane.max_json_values())

    def _observations(self, policy: ServedPolicy, inputs, binary: bytes | None) -> np.ndarray:
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            raise InvalidRequest("inputs: exactly one input tensor, the observations, is expected")
        tensor = inputs[0]
        name, datatype, shape = str(tensor.get("name", "observation"))[:40], tensor.get("datatype"), tensor.get("shape")
        if not isinstance(shape, list) or not shape or type(shape[0]) is not int or shape[0] < 1:
            raise InvalidRequest(f"input {name!r}: shape [batch, ...] with a batch of at least 1 is required")
        if shape[0] > self.settings.max_batch:
            raise InvalidRequest(f"input {name!r}: at most {self.settings.max_batch} observations, got {shape[0]}")
        discrete = isinstance(policy.observation_space, DiscreteSpace)
        allowed = INTEGER_TYPES if discrete else FLOAT_TYPES
        if datatype not in allowed:
            raise InvalidRequest(f"input {name!r}: {policy.name} takes {' or '.join(allowed[:2])} observations, "
                                 f"got {str(datatype)[:20]!r}")
        raw = None
        size = _parameters(tensor, f"input {name!r}").get("binary_data_size")
        if size is not None:
            if binary is None or type(size) is not int or size != len(binary):
                raise InvalidRequest(f"input {name!r}: binary_data_size does not match the binary part")
            raw = binary
        elif "data" not in tensor:
            raise InvalidRequest(f"input {name!r}: 'data' is required")
        array = tensor_array(str(name), datatype, shape, tensor.get("data"), raw)
        if discrete:
            if array.ndim == 2 and array.shape[1] == 1:
                array = array[:, 0]
            if array.ndim != 1:
                raise InvalidRequest(f"input {name!r}: discrete observations have shape [batch] or [batch, 1]")
            return self.plane.observations(policy, [int(s) for s in array], "inputs[0].data")
        return self.plane.observations(policy, array.tolist(), "inputs[0].data")

    @staticmethod
    def _wanted_outputs(body: dict) -> tuple[list[str], bool]:
        requested = body.get("outputs")
        binary_default = bool(_parameters(body, "the request").get("binary_data_output", False))
        if requested is None:
            return list(OUTPUTS), binary_default
        if not isinstance(requested, list) or not all(isinstance(o, dict) for o in requested):
            raise InvalidRequest("outputs: a list of {\"name\": ...} objects")
        names = [o.get("name") for o in requested]
        unknown = [n for n in names if n not in OUTPUTS]
        if unknown or not names:
            raise InvalidRequest(f"outputs: unknown output {str(unknown[:1])[:40]}; this model has {list(OUTPUTS)}")
        names = list(dict.fromkeys(names))
        binary = any(_parameters(o, "an output").get("binary_data", binary_default) for o in requested)
        return names, binary

    def _answer(self, body: dict, policy: ServedPolicy, results: dict, binary: bool) -> Response:
        tensors, chunks = [], []
        for name, array in results.items():
            tensor, data = encode_output(name, array, OUTPUT_TYPES[name], binary)
            tensors.append(tensor)
            chunks.append(data)
        answer = {"model_name": policy.name, "model_version": str(policy.version), "outputs": tensors}
        if isinstance(body.get("id"), str):
            answer["id"] = body["id"][:256]
        header = json.dumps(answer).encode()
        if not binary:
            return json_response(header)
        response = Response(header + b"".join(chunks), mimetype="application/octet-stream")
        response.headers[BINARY_HEADER] = str(len(header))
        return response


def _parameters(holder: dict, what: str) -> dict:
    """Returns the `parameters` object of a request, input or output ({} if absent)."""
    parameters = holder.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise InvalidRequest(f"{what}: parameters must be an object")
    return parameters


def _signature(policy: ServedPolicy) -> tuple[list[dict], list[dict]]:
    space = policy.observation_space
    if isinstance(space, DiscreteSpace):
        observation = {"name": "observation", "datatype": "INT64", "shape": [-1, 1]}
    else:
        observation = {"name": "observation", "datatype": "FP32", "shape": [-1, *space.shape]}
    n_actions = len(policy.action_names)
    outputs = [
        {"name": "action", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, n_actions]},
        {"name": "value", "datatype": "FP64", "shape": [-1]},
    ]
    return [observation], outputs

