"""Other model servers' protocols, driven with their real clients: Triton's tritonclient and
KServe's InferenceRESTClient for the Open Inference Protocol, requests for TF Serving's REST
API. Their answers must equal /act's and /value's for the same observations and seed."""

import asyncio
import json

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.services import POLICY

OBSERVATIONS = [0, 4, 8, 14]


def ours(service, seed=7):
    act = service.post("/act", {"observations": OBSERVATIONS, "seed": seed}).json()
    values = service.post("/value", {"observations": OBSERVATIONS}).json()
    probabilities = service.post("/policy", {"observations": OBSERVATIONS}).json()
    return act, values, probabilities


@pytest.fixture
def triton_client(service):
    client = triton.InferenceServerClient(url=f"127.0.0.1:{service.port}")
    yield client
    client.close()


def triton_infer(client, binary: bool, seed=7):
    tensor = triton.InferInput("observation", [len(OBSERVATIONS), 1], "INT64")
    tensor.set_data_from_numpy(np.array(OBSERVATIONS, dtype=np.int64).reshape(-1, 1), binary_data=binary)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("action", "probabilities", "value")]
    return client.infer(POLICY, [tensor], outputs=outputs, parameters={"seed": seed})


def test_tritonclient_health_metadata_config_and_index(triton_client):
    assert triton_client.is_server_live() and triton_client.is_server_ready()
    assert triton_client.is_model_ready(POLICY) and triton_client.is_model_ready(POLICY, "1")
    assert not triton_client.is_model_ready(POLICY, "9")
    metadata = triton_client.get_model_metadata(POLICY)
    assert metadata["name"] == POLICY and metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "observation", "datatype": "INT64", "shape": [-1, 1]}]
    assert [o["name"] for o in metadata["outputs"]] == ["action", "probabilities", "value"]
    assert triton_client.get_model_config(POLICY)["input"][0]["data_type"] == "TYPE_INT64"
    assert {"name": POLICY, "version": "1", "state": "READY", "reason": ""} in triton_client.get_model_repository_index()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_infer_equals_act_and_value(service, triton_client, binary):
    act, values, probabilities = ours(service)
    result = triton_infer(triton_client, binary)
    assert result.as_numpy("action").tolist() == act["actions"]
    assert result.as_numpy("value").tolist() == values["values"]
    assert result.as_numpy("probabilities").tolist() == probabilities["probabilities"]
    assert result.get_response()["model_version"] == "1"


def test_tritonclient_errors_are_readable(triton_client):
    tensor = triton.InferInput("observation", [1, 1], "INT64")
    tensor.set_data_from_numpy(np.array([[99]], dtype=np.int64), binary_data=False)
    with pytest.raises(InferenceServerException) as error:
        triton_client.infer(POLICY, [tensor])
    assert "0..15" in str(error.value)  # printing it works, and says what was wrong
    with pytest.raises(InferenceServerException) as error:
        triton_client.get_model_metadata("no-such-policy")
    assert "no-such-policy" in str(error.value)


def test_kserve_rest_client_live_ready_and_infer(service):
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    async def run():
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        try:
            live = await client.is_server_live(service.url)
            ready = await client.is_server_ready(service.url)
            model_ready = await client.is_model_ready(service.url, POLICY)
            tensor = InferInput(name="observation", shape=[len(OBSERVATIONS)], datatype="INT64", data=OBSERVATIONS)
            request = InferRequest(model_name=POLICY, infer_inputs=[tensor], parameters={"seed": 7})
            response = await client.infer(service.url, request, model_name=POLICY)
            return live, ready, model_ready, response
        finally:
            await client.close()

    live, ready, model_ready, response = asyncio.run(run())
    assert live is True and ready is True and model_ready is True
    act, values, _ = ours(service)
    outputs = {output.name: output.as_numpy() for output in response.outputs}
    assert outputs["action"].tolist() == act["actions"]
    assert outputs["value"].tolist() == values["values"]
    metadata = service.get(f"/v2/models/{POLICY}").json()  # the client has no metadata call
    assert metadata["inputs"][0]["datatype"] == "INT64"


def test_kserve_v1_predict_is_tf_servings(service):
    from kserve import InferenceRESTClient, RESTConfig

    async def run():
        client = InferenceRESTClient(RESTConfig(protocol="v1", retries=0))
        try:
            return (await client.is_model_ready(service.url, POLICY),
                    await client.infer(service.url, {"instances": [[s] for s in OBSERVATIONS]}, model_name=POLICY))
        finally:
            await client.close()

    ready, answer = asyncio.run(run())
    # KServe V1 reads "ready" from GET /v1/models/<name>, which is TF Serving's status there:
    # its GetModelStatusResponse has no such field, so the client finds none.
    assert ready is None
    assert answer["predictions"] == ours(service)[2]["probabilities"]


def test_tf_serving_status_metadata_and_predict(service):
    status = service.get(f"/v1/models/{POLICY}").json()
    assert status["model_version_status"][0] == {"version": "1", "state": "AVAILABLE",
                                                 "status": {"error_code": "OK", "error_message": ""}}
    assert service.get(f"/v1/models/{POLICY}/versions/1").status_code == 200
    signatures = service.get(f"/v1/models/{POLICY}/metadata").json()["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "value"}
    _, values, probabilities = ours(service)
    rows = service.post(f"/v1/models/{POLICY}:predict", {"instances": [[s] for s in OBSERVATIONS]}).json()
    assert rows == {"predictions": probabilities["probabilities"]}
    columns = service.post(f"/v1/models/{POLICY}/versions/1:predict", {"inputs": {"observation": OBSERVATIONS}}).json()
    assert columns == {"outputs": probabilities["probabilities"]}
    critic = service.post(f"/v1/models/{POLICY}/labels/latest:predict",
                          {"signature_name": "value", "instances": OBSERVATIONS}).json()
    assert critic == {"predictions": [[v] for v in values["values"]]}


@pytest.mark.parametrize("path, body, status", [
    ("/v1/models/frozenlake-4x4:predict", {"instances": [[99]]}, 400),
    ("/v1/models/frozenlake-4x4:predict", {"instances": [[0]], "inputs": [[0]]}, 400),
    ("/v1/models/frozenlake-4x4:predict", {"signature_name": "nope", "instances": [[0]]}, 400),
    ("/v1/models/nope:predict", {"instances": [[0]]}, 404),
    ("/v1/models/frozenlake-4x4/labels/canary:predict", {"instances": [[0]]}, 404),
    ("/v2/models/frozenlake-4x4/infer", {"inputs": [{"name": "observation", "shape": [1], "datatype": "FP32",
                                                    "data": [0.5]}]}, 400),
    ("/v2/models/frozenlake-4x4/infer", {"inputs": [{"name": "observation", "shape": [2], "datatype": "INT64",
                                                    "data": [0]}]}, 400),
    ("/v2/models/frozenlake-4x4/versions/٣/infer", {"inputs": []}, 400),
])
def test_protocol_errors_use_the_protocols_shape(service, path, body, status):
    response = service.post(path, body)
    assert response.status_code == status, response.text
    assert isinstance(response.json()["error"], str) and response.json()["error"]


def test_openapi_has_operation_ids_tags_and_every_protocol_route(service):
    document = service.get("/openapi.json").json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert all(op["operationId"] and op["tags"] for op in operations)
    assert len({op["operationId"] for op in operations}) == len(operations)
    for path in ["/v2/models/{name}/infer", "/v1/models/{name}:predict", "/act", "/healthz", "/v2/health/live"]:
        assert path in document["paths"], path
    assert document["paths"]["/healthz"]["get"]["responses"]["200"]["content"]


@pytest.mark.parametrize("parameters", [
    {"action_mask": 1}, {"action_mask": ["a", "b", "c", "d"]}, {"action_mask": {"a": 1}},
    {"action_mask": [2**70, 1, 1, 1]}, {"action_mask": [[[1, 1, 1, 1]]]}, {"action_mask": [0.5, 1, 1, 1]},
    {"action_mask": [True, 1, 1, 1]}, {"action_mask": [[1, 1, 1, 1], [1]]},
])
def test_odd_action_masks_are_refused_not_crashed(service, parameters):
    body = {"inputs": [{"name": "observation", "shape": [2], "datatype": "INT64", "data": [0, 1]}],
            "parameters": {"action_mask": json.dumps(parameters["action_mask"])}}
    response = service.post(f"/v2/models/{POLICY}/infer", body)
    assert response.status_code == 400, response.text
    ours = service.post("/act", {"observations": [0, 1], "action_mask": parameters["action_mask"]})
    assert ours.status_code == 422, ours.text


@pytest.mark.parametrize("tensor, headers", [
    ({"name": "x" * 500_000, "shape": [1], "datatype": "INT64", "data": [99]}, {}),
    ({"name": "observation", "shape": [1] + [1] * 200_000, "datatype": "INT64", "data": [0]}, {}),
    ({"name": "observation", "shape": [1], "datatype": "INT64", "data": [0], "parameters": "x"}, {}),
])
def test_odd_tensors_get_small_4xx_answers(service, tensor, headers):
    response = service.post(f"/v2/models/{POLICY}/infer", {"inputs": [tensor]}, headers=headers)
    assert 400 <= response.status_code < 500, response.text[:300]
    assert len(response.content) < 2048


def test_a_binary_header_length_of_thousands_of_digits_is_400(service):
    response = service.post(f"/v2/models/{POLICY}/infer", data=b"{}",
                            headers={"Inference-Header-Content-Length": "9" * 5000})
    assert response.status_code == 400 and isinstance(response.json()["error"], str)
