"""The Open Inference Protocol, route by route, as KServe's `required_api.md` and Triton's
binary-data and model-repository extensions specify it, for a tabular and a Box policy.

Every answer, errors included, is validated strictly (no extra fields, no coercion)
against pydantic models of the specification's objects, written from the specification
as MLServer's `types` are (without installing MLServer).
"""

import json
from typing import Literal

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr

from service.registry import Registry, Snapshot
from tests.service.inprocess import (
    BOX, GAUSSIAN, MAX_BATCH, TABULAR, add_loading_version, build_client, publish_both,
)

Datatype = Literal["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                   "FP16", "FP32", "FP64", "BYTES"]
Parameter = StrictBool | StrictInt | StrictFloat | StrictStr


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorResponse(Strict):
    error: str


class MetadataServerResponse(Strict):
    name: str
    version: str
    extensions: list[str]


class MetadataTensor(Strict):
    name: str
    datatype: Datatype
    shape: list[int]


class MetadataModelResponse(Strict):
    name: str
    versions: list[str] | None = None
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class ResponseOutput(Strict):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Parameter] | None = None
    data: list | None = None  # absent when the tensor is sent as binary data


class InferenceResponse(Strict):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Parameter] | None = None
    outputs: list[ResponseOutput]


class RepositoryIndexEntry(Strict):
    name: str
    version: str | None = None
    state: str
    reason: str


def observation(data, shape, datatype="INT64", name="observation"):
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


TABULAR_INPUT = observation([0, 5], [2, 1])
BOX_INPUT = observation([0.0, 0.1, 0.01, -0.2, 1.0, 0.5, -0.1, 0.3], [2, 4], "FP32")
GAUSSIAN_INPUT = observation([0.5, -0.5, 1.0, 1.0, 0.0, -8.0], [2, 3], "FP32")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    publish_both(root)
    return build_client(root, tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def empty_client(tmp_path_factory):
    return build_client(tmp_path_factory.mktemp("empty"), tmp_path_factory.mktemp("cache"))


def infer(client, model, body, **kwargs):
    return client.post(f"/v2/models/{model}/infer", data=json.dumps(body), **kwargs)


def assert_error(response, status):
    assert response.status_code == status, response.data[:300]
    return ErrorResponse.model_validate_json(response.data).error


def answer(response) -> InferenceResponse:
    assert response.status_code == 200, response.data[:300]
    return InferenceResponse.model_validate_json(response.data)


# ---- 1: every error under /v2 is {"error": "<string>"} ----------------------------------

@pytest.mark.parametrize("method, path, status", [
    ("GET", f"/v2/models/{TABULAR}/stats", 404),
    ("GET", "/v2/systemsharedmemory/status", 404),
    ("POST", "/v2/trace/setting", 404),
    ("GET", f"/v2/models/{TABULAR}/infer", 405),
    ("POST", "/v2/health/ready", 405),
    ("GET", "/v2/repository/index", 405),
])
def test_unknown_routes_and_wrong_methods_under_v2_answer_a_string_error(client, method, path, status):
    response = client.open(path, method=method)
    assert assert_error(response, status)
    if status == 405:
        assert response.headers["Allow"]


# ---- 2, 5: bad requests are 400, the input is named "observation" ------------------------

@pytest.mark.parametrize("model, body", [
    (TABULAR, {"inputs": [observation([0], [1, 1], "FP32")]}),  # wrong datatype
    (BOX, {"inputs": [observation([0, 0, 0, 0], [1, 4], "INT64")]}),
    (TABULAR, {"inputs": [observation([0, 1, 2], [2, 1])]}),  # data count and shape disagree
    (TABULAR, {"inputs": []}),  # missing input
    (TABULAR, {}),
    (TABULAR, {"inputs": [TABULAR_INPUT, {**TABULAR_INPUT, "name": "extra"}]}),  # extra input
    (TABULAR, {"inputs": [TABULAR_INPUT, TABULAR_INPUT]}),
    (TABULAR, {"inputs": [{**TABULAR_INPUT, "name": "foo"}]}),  # not the model's input name
    (TABULAR, {"inputs": [TABULAR_INPUT], "outputs": [{"name": "nope"}]}),  # unknown output
    (TABULAR, {"inputs": [TABULAR_INPUT], "parameters": []}),
    (TABULAR, {"inputs": [TABULAR_INPUT], "parameters": {"seed": [1]}}),  # not a parameter type
    (TABULAR, {"inputs": [TABULAR_INPUT], "parameters": {"mode": "best"}}),
    (TABULAR, {"inputs": [{**TABULAR_INPUT, "parameters": []}]}),
    (TABULAR, {"inputs": [{**TABULAR_INPUT, "shape": "2"}]}),
    (TABULAR, {"inputs": [observation([99], [1, 1])]}),  # outside the space
    (TABULAR, {"inputs": [observation([0] * (MAX_BATCH + 1), [MAX_BATCH + 1])]}),
    (TABULAR, {"inputs": [TABULAR_INPUT], "id": 42}),  # 7: the id is a string
    (TABULAR, {"inputs": [TABULAR_INPUT], "parameters": {"action_mask": [1, 0, 1, 1]}}),  # 8: no array parameters
    (TABULAR, {"inputs": [TABULAR_INPUT], "parameters": {"action_mask": "[1, 0"}}),
    (TABULAR, {"inputs": [TABULAR_INPUT], "parameters": {"action_mask": "[0, 0, 0, 0]"}}),
    # Found by an independent probe: data nested unlike its shape, a null id, a value
    # outside the declared float type.
    (TABULAR, {"inputs": [observation([[0, 0, 0], [0, 0, 0, 0, 0]], [2, 4])]}),
    (TABULAR, {"inputs": [observation([[0, 5]], [2, 1])]}),
    (TABULAR, {"inputs": [observation([[[0]], [[5]]], [2])]}),
    (TABULAR, {"inputs": [TABULAR_INPUT], "id": None}),
    (BOX, {"inputs": [observation([0, 70000.0, 0, 0], [1, 4], "FP16")]}),
    # Box actions: no probabilities, no action mask; discrete actions: no mean or std.
    (GAUSSIAN, {"inputs": [GAUSSIAN_INPUT], "outputs": [{"name": "probabilities"}]}),
    (GAUSSIAN, {"inputs": [GAUSSIAN_INPUT], "parameters": {"action_mask": "[1, 0]"}}),
    (GAUSSIAN, {"inputs": [observation([0, 0, 9.0], [1, 3], "FP32")]}),  # outside the observation bounds
    (TABULAR, {"inputs": [TABULAR_INPUT], "outputs": [{"name": "mean"}]}),
])
def test_bad_inference_requests_are_400_with_a_string_error(client, model, body):
    assert assert_error(infer(client, model, body), 400)


def test_a_binary_size_that_disagrees_with_the_shape_is_400(client):
    header = json.dumps({"inputs": [{"name": "observation", "shape": [2, 1], "datatype": "INT64",
                                     "parameters": {"binary_data_size": 8}}]}).encode()
    body = header + np.array([0], dtype="<i8").tobytes()
    response = client.post(f"/v2/models/{TABULAR}/infer", data=body,
                           headers={"Inference-Header-Content-Length": str(len(header))})
    assert "binary" in assert_error(response, 400)


def test_a_policy_or_version_that_is_not_served_is_404(client):
    assert assert_error(infer(client, "nope", {"inputs": [TABULAR_INPUT]}), 404)
    assert assert_error(client.post(f"/v2/models/{TABULAR}/versions/2/infer", json={"inputs": [TABULAR_INPUT]}), 404)


# ---- 3: binary_data per output ------------------------------------------------------------

def test_a_per_output_binary_data_false_wins_over_the_request_default(client):
    body = {"inputs": [TABULAR_INPUT], "parameters": {"binary_data_output": True},
            "outputs": [{"name": "probabilities"}, {"name": "value", "parameters": {"binary_data": False}}]}
    response = infer(client, TABULAR, body)
    length = int(response.headers["Inference-Header-Content-Length"])
    header = InferenceResponse.model_validate_json(response.data[:length])
    probabilities, value = header.outputs
    assert value.data is not None and len(value.data) == 2 and value.parameters is None
    assert probabilities.data is None and probabilities.parameters == {"binary_data_size": 2 * 4 * 8}
    assert len(response.data) == length + 2 * 4 * 8


# ---- 4: requested outputs come back in the request's order; [] means all ------------------

def test_requested_outputs_come_back_in_the_requests_order(client):
    body = {"inputs": [TABULAR_INPUT], "outputs": [{"name": "value"}, {"name": "action"}]}
    assert [o.name for o in answer(infer(client, TABULAR, body)).outputs] == ["value", "action"]


def test_an_empty_outputs_list_asks_for_every_output(client):
    outputs = answer(infer(client, TABULAR, {"inputs": [TABULAR_INPUT], "outputs": []})).outputs
    assert [o.name for o in outputs] == ["action", "probabilities", "value"]


# ---- 6: an empty batch --------------------------------------------------------------------

def test_an_empty_batch_of_a_box_action_policy_gets_empty_outputs_of_the_action_shape(client):
    outputs = answer(infer(client, GAUSSIAN, {"inputs": [observation([], [0, 3], "FP32")]})).outputs
    assert [(o.name, o.datatype, o.shape, o.data) for o in outputs] == [
        ("action", "FP32", [0, 2], []), ("mean", "FP64", [0, 2], []), ("std", "FP64", [0, 2], []),
        ("value", "FP64", [0], [])]


@pytest.mark.parametrize("model, tensor, width", [
    (TABULAR, observation([], [0, 1]), 4), (TABULAR, observation([], [0]), 4),
    (BOX, observation([], [0, 4], "FP32"), 2),
])
def test_an_empty_batch_gets_empty_outputs(client, model, tensor, width):
    outputs = {o.name: o for o in answer(infer(client, model, {"inputs": [tensor]})).outputs}
    assert outputs["action"].shape == [0] and outputs["value"].shape == [0]
    assert outputs["probabilities"].shape == [0, width]
    assert all(o.data == [] for o in outputs.values())


# ---- 7: the id comes back as sent ---------------------------------------------------------

def test_the_id_comes_back_whole(client):
    request_id = "request-" + "x" * 1000
    assert answer(infer(client, TABULAR, {"id": request_id, "inputs": [TABULAR_INPUT]})).id == request_id


# ---- 8: action_mask is a string parameter -------------------------------------------------

def test_action_mask_is_a_string_parameter_holding_the_mask(client):
    body = {"inputs": [observation(list(range(16)), [16, 1])], "outputs": [{"name": "action"}],
            "parameters": {"action_mask": "[0, 0, 1, 0]", "seed": 5}}
    assert answer(infer(client, TABULAR, body)).outputs[0].data == [2] * 16
    per_observation = json.dumps([[1, 0, 0, 0], [0, 0, 0, 1]])
    body = {"inputs": [TABULAR_INPUT], "outputs": [{"name": "action"}], "parameters": {"action_mask": per_observation}}
    assert answer(infer(client, TABULAR, body)).outputs[0].data == [0, 3]


# ---- 9: health probes are 200 or 4xx ------------------------------------------------------

def test_server_ready_is_400_while_nothing_is_loaded_and_readyz_stays_503(empty_client):
    assert assert_error(empty_client.get("/v2/health/ready"), 400)
    assert assert_error(empty_client.get(f"/v2/models/{TABULAR}/ready"), 400)
    assert empty_client.get("/readyz").status_code == 503
    assert empty_client.get("/v2/health/live").status_code == 200


def test_health_probes_are_200_once_served(client):
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    assert client.get(f"/v2/models/{BOX}/versions/1/ready").status_code == 200
    assert assert_error(client.get(f"/v2/models/{TABULAR}/versions/2/ready"), 404)


# ---- 10: the model repository extension ---------------------------------------------------

def test_repository_index_lists_every_version_and_only_ready_ones_when_asked(client):
    every = [RepositoryIndexEntry.model_validate(e) for e in client.post("/v2/repository/index", data="").get_json()]
    assert {(e.name, e.version, e.state) for e in every} == {
        (TABULAR, "1", "READY"), (TABULAR, "2", "UNAVAILABLE"), (BOX, "1", "READY"), (GAUSSIAN, "1", "READY")}
    assert next(e for e in every if e.state == "UNAVAILABLE").reason
    ready = client.post("/v2/repository/index", json={"ready": True}).get_json()
    assert {(e["name"], e["version"]) for e in ready} == {(TABULAR, "1"), (BOX, "1"), (GAUSSIAN, "1")}
    assert assert_error(client.post("/v2/repository/index", json={"ready": "yes"}), 400)


def test_repository_index_shows_a_version_being_loaded_as_loading(tmp_path):
    publish_both(tmp_path / "root")
    client = build_client(tmp_path / "root", tmp_path / "cache")
    add_loading_version(client, BOX)
    index = [RepositoryIndexEntry.model_validate(e) for e in client.post("/v2/repository/index").get_json()]
    assert (BOX, "2", "LOADING") in {(e.name, e.version, e.state) for e in index}


@pytest.mark.parametrize("verb", ["load", "unload"])
def test_explicit_load_and_unload_are_refused_as_in_tritons_poll_mode(client, verb):
    response = client.post(f"/v2/repository/models/{TABULAR}/{verb}", json={})
    assert "not allowed" in assert_error(response, 400)
    assert client.post("/v2/repository/index", json={"ready": True}).status_code == 200


# ---- 11: server metadata at /v2 and /v2/ --------------------------------------------------

@pytest.mark.parametrize("path", ["/v2", "/v2/"])
def test_server_metadata_answers_with_and_without_the_trailing_slash(client, path):
    metadata = MetadataServerResponse.model_validate_json(client.get(path).data)
    assert {"binary_tensor_data", "model_repository"} <= set(metadata.extensions)


# ---- 12: /config agrees with the metadata -------------------------------------------------

@pytest.mark.parametrize("model", [TABULAR, BOX, GAUSSIAN])
def test_config_shapes_are_the_metadatas(client, model):
    metadata = MetadataModelResponse.model_validate_json(client.get(f"/v2/models/{model}").data)
    config = client.get(f"/v2/models/{model}/config").get_json()
    for tensors, configured in [(metadata.inputs, config["input"]), (metadata.outputs, config["output"])]:
        for tensor, entry in zip(tensors, configured, strict=True):
            # Triton: a batched model's dims leave out the batch; `reshape` is the shape the model sees.
            dims = entry["reshape"]["shape"] if "reshape" in entry else entry["dims"]
            assert (entry["name"], [-1, *dims], entry["data_type"]) == (tensor.name, tensor.shape,
                                                                          f"TYPE_{tensor.datatype}")


# ---- every success answer validates -------------------------------------------------------

@pytest.mark.parametrize("model, tensor, actions", [(TABULAR, TABULAR_INPUT, 4), (BOX, BOX_INPUT, 2)])
def test_metadata_and_inference_answers_validate_strictly(client, model, tensor, actions):
    metadata = MetadataModelResponse.model_validate_json(client.get(f"/v2/models/{model}/versions/1").data)
    assert metadata.versions == ["1"] and metadata.inputs[0].name == "observation"
    result = answer(infer(client, model, {"inputs": [tensor], "parameters": {"mode": "greedy"}}))
    assert result.model_name == model and result.model_version == "1"
    assert [(o.name, o.shape) for o in result.outputs] == [("action", [2]), ("probabilities", [2, actions]),
                                                            ("value", [2])]


# ---- Box actions: action FP32 [batch, *shape], mean and std FP64, no probabilities ------

def test_a_box_action_models_outputs_are_action_mean_std_and_value_as_its_metadata_says(client):
    metadata = MetadataModelResponse.model_validate_json(client.get(f"/v2/models/{GAUSSIAN}").data)
    assert [(t.name, t.datatype, t.shape) for t in metadata.outputs] == [
        ("action", "FP32", [-1, 2]), ("mean", "FP64", [-1, 2]), ("std", "FP64", [-1, 2]), ("value", "FP64", [-1])]
    result = answer(infer(client, GAUSSIAN, {"inputs": [GAUSSIAN_INPUT], "parameters": {"mode": "greedy"}}))
    assert [(o.name, o.datatype, o.shape) for o in result.outputs] == [
        (t.name, t.datatype, [2, *t.shape[1:]]) for t in metadata.outputs]
    action, mean, std, _ = (np.array(o.data).reshape(o.shape) for o in result.outputs)
    np.testing.assert_array_equal(action, np.clip(mean, -2, 2).astype(np.float32))
    assert (std > 0).all() and (np.abs(mean) > 2).any() and (np.abs(mean) < 2).any()  # clipping both ways is seen
    ours = client.post("/act", json={"observations": [[0.5, -0.5, 1.0], [1.0, 0.0, -8.0]], "mode": "greedy",
                                     "policy": GAUSSIAN}).get_json()["actions"]
    np.testing.assert_allclose(action, ours, rtol=1e-6)


def test_box_actions_sent_as_binary_are_fp32_of_the_action_shape(client):
    body = {"inputs": [GAUSSIAN_INPUT], "outputs": [{"name": "action"}, {"name": "mean"}],
            "parameters": {"binary_data_output": True, "mode": "sample", "seed": 7}}
    response = infer(client, GAUSSIAN, body)
    length = int(response.headers["Inference-Header-Content-Length"])
    header = InferenceResponse.model_validate_json(response.data[:length])
    assert [(o.name, o.parameters) for o in header.outputs] == [
        ("action", {"binary_data_size": 2 * 2 * 4}), ("mean", {"binary_data_size": 2 * 2 * 8})]
    action = np.frombuffer(response.data[length:length + 16], dtype="<f4").reshape(2, 2)
    assert ((action >= -2) & (action <= 2)).all()
    assert infer(client, GAUSSIAN, body).data == response.data  # the seed repeats the sample


# ---- model metadata reads one snapshot ----------------------------------------------------

def test_model_metadata_survives_a_swap_that_drops_the_policy_mid_request(client):
    """A request reads the registry's snapshot once: a swap right after that read (here,
    every read after the first sees an empty registry) cannot turn it into a 500."""
    registry: Registry = client.application.extensions["registry"]
    full = registry.snapshot

    class SwappedAfterOneRead(Registry):
        reads = 0

        @property
        def snapshot(self):
            SwappedAfterOneRead.reads += 1
            return full if SwappedAfterOneRead.reads == 1 else Snapshot()

        @snapshot.setter
        def snapshot(self, value):
            pass

    registry.__class__ = SwappedAfterOneRead
    try:
        response = client.get(f"/v2/models/{TABULAR}")
    finally:
        registry.__class__ = Registry
        registry.snapshot = full
    assert MetadataModelResponse.model_validate_json(response.data).versions == ["1"]
