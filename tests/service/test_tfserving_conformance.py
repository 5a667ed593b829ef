"""TF Serving's REST API, route by route, as `api_rest.md` specifies it, for a tabular and
a Box policy.

Status and metadata answers are JSON mappings of TF Serving's own protobuf messages, so
they are parsed with those messages (the `tensorflow-serving-api` package) and
`json_format`, without `ignore_unknown_fields`. Predict, classify and regress answers
have REST shapes of their own; each is mapped into its message (PredictResponse's
tensors, ClassificationResult, RegressionResult) field by field and parsed strictly.
"""

import json

import numpy as np
import pytest
from google.protobuf import json_format
from tensorflow_serving.apis import classification_pb2, get_model_metadata_pb2, get_model_status_pb2
from tensorflow_serving.apis import predict_pb2, regression_pb2

from tests.service.inprocess import BOX, GAUSSIAN, TABULAR, add_loading_version, build_client, publish_both

BOX_OBSERVATIONS = [[0.01, -0.2, 0.03, 0.4], [-1.0, 0.5, -0.1, -0.3]]
ACTIONS = {TABULAR: ["LEFT", "DOWN", "RIGHT", "UP"], BOX: ["LEFT", "RIGHT"]}
GAUSSIAN_OBSERVATIONS = [[0.5, -0.5, 1.0], [1.0, 0.0, -8.0]]
OBSERVATIONS = {TABULAR: [0, 5], BOX: BOX_OBSERVATIONS, GAUSSIAN: GAUSSIAN_OBSERVATIONS}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    publish_both(root)
    return build_client(root, tmp_path_factory.mktemp("cache"))


def post(client, path, body):
    return client.post(path, data=body if isinstance(body, str) else json.dumps(body))


def assert_error(response, status) -> str:
    assert response.status_code == status, response.data[:300]
    body = response.get_json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    return body["error"]


def ok(response) -> dict:
    assert response.status_code == 200, response.data[:300]
    return response.get_json()


def as_predict_response(outputs: dict) -> predict_pb2.PredictResponse:
    """Returns the answer's named tensors as TF Serving's PredictResponse, as a DT_FLOAT
    tensor proto of the answer's (nested) shape, parsed strictly."""
    tensors = {}
    for name, value in outputs.items():
        array = np.asarray(value, dtype=np.float32)
        tensors[name] = {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": str(d)} for d in array.shape]},
                         "float_val": array.reshape(-1).tolist()}
    return json_format.ParseDict({"outputs": tensors}, predict_pb2.PredictResponse())


# ---- 13: classify and regress; paths and methods TF Serving has no API for -----------------

@pytest.mark.parametrize("model", [TABULAR, BOX])
def test_classify_answers_each_actions_name_and_probability(client, model):
    examples = [{"observation": o} for o in OBSERVATIONS[model]]
    results = ok(post(client, f"/v1/models/{model}:classify", {"examples": examples}))["results"]
    message = json_format.ParseDict(
        {"result": {"classifications": [{"classes": [{"label": label, "score": score} for label, score in row]}
                                        for row in results]}},
        classification_pb2.ClassificationResponse())
    probabilities = ok(post(client, f"/v1/models/{model}:predict", {"instances": OBSERVATIONS[model]}))["predictions"]
    for classification, row in zip(message.result.classifications, probabilities, strict=True):
        assert [c.label for c in classification.classes] == ACTIONS[model]
        np.testing.assert_allclose([c.score for c in classification.classes], row, rtol=1e-6)


@pytest.mark.parametrize("model", [TABULAR, BOX, GAUSSIAN])
def test_regress_answers_the_critics_value(client, model):
    examples = [{"observation": o} for o in OBSERVATIONS[model]]
    results = ok(post(client, f"/v1/models/{model}:regress", {"signature_name": "value", "examples": examples}))
    message = json_format.ParseDict({"result": {"regressions": [{"value": v} for v in results["results"]]}},
                                    regression_pb2.RegressionResponse())
    values = ok(post(client, f"/v1/models/{model}:predict",
                     {"signature_name": "value", "instances": OBSERVATIONS[model]}))["predictions"]
    np.testing.assert_allclose([r.value for r in message.result.regressions], [v[0] for v in values], rtol=1e-6)


def test_classify_and_regress_take_a_shared_context(client):
    body = {"context": {"observation": 5}, "examples": [{}]}
    assert len(ok(post(client, f"/v1/models/{TABULAR}:regress", body))["results"]) == 1
    body = {"context": {"observation": 5}, "examples": [{"observation": 5}]}
    assert assert_error(post(client, f"/v1/models/{TABULAR}:regress", body), 400)


@pytest.mark.parametrize("method, path", [
    ("GET", f"/v1/models/{BOX}:predict"),
    ("GET", f"/v1/models/{BOX}/versions/1:classify"),
    ("POST", f"/v1/models/{BOX}"),
    ("POST", f"/v1/models/{BOX}/metadata"),
    ("POST", f"/v1/models/{BOX}:explain"),
    ("GET", "/v1/models"),
])
def test_a_path_or_method_tf_serving_has_no_api_for_is_its_malformed_request(client, method, path):
    assert assert_error(client.open(path, method=method), 400).startswith(f"Malformed request: {method} ")


@pytest.mark.parametrize("path, body", [
    (f"/v1/models/{BOX}:classify", {"signature_name": "value", "examples": [{"observation": BOX_OBSERVATIONS[0]}]}),
    (f"/v1/models/{BOX}:regress", {"signature_name": "serving_default",
                                   "examples": [{"observation": BOX_OBSERVATIONS[0]}]}),
    (f"/v1/models/{BOX}:classify", {"examples": []}),
    (f"/v1/models/{BOX}:classify", {"examples": [{"position": BOX_OBSERVATIONS[0]}]}),
    (f"/v1/models/{BOX}:classify", {"examples": [{"observation": BOX_OBSERVATIONS[0]}], "instances": [[0]]}),
    (f"/v1/models/{TABULAR}:regress", {"examples": [{"observation": 99}]}),
])
def test_bad_classify_and_regress_requests_are_400(client, path, body):
    assert assert_error(post(client, path, body), 400)


# ---- 14: status and metadata are TF Serving's messages --------------------------------------

@pytest.mark.parametrize("path", [f"/v1/models/{TABULAR}", f"/v1/models/{TABULAR}/versions/1",
                                  f"/v1/models/{BOX}/labels/latest"])
def test_status_parses_as_get_model_status_response(client, path):
    message = json_format.Parse(client.get(path).data, get_model_status_pb2.GetModelStatusResponse())
    states = {s.version: get_model_status_pb2.ModelVersionStatus.State.Name(s.state)
              for s in message.model_version_status}
    assert states[1] == "AVAILABLE"
    if path == f"/v1/models/{TABULAR}":
        assert states == {1: "AVAILABLE", 2: "END"}


def test_status_shows_a_version_being_loaded_as_loading(tmp_path):
    publish_both(tmp_path / "root")
    client = build_client(tmp_path / "root", tmp_path / "cache")
    add_loading_version(client, BOX)
    message = json_format.Parse(client.get(f"/v1/models/{BOX}").data, get_model_status_pb2.GetModelStatusResponse())
    states = {s.version: get_model_status_pb2.ModelVersionStatus.State.Name(s.state)
              for s in message.model_version_status}
    assert states == {1: "AVAILABLE", 2: "LOADING"}


@pytest.mark.parametrize("model, dtype, shape, width", [
    (TABULAR, "DT_INT64", [-1, 1], 4), (BOX, "DT_FLOAT", [-1, 4], 2)])
def test_metadata_parses_as_get_model_metadata_response(client, model, dtype, shape, width):
    message = json_format.Parse(client.get(f"/v1/models/{model}/metadata").data,
                                get_model_metadata_pb2.GetModelMetadataResponse())
    assert message.model_spec.name == model and message.model_spec.version.value == 1
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert message.metadata["signature_def"].Unpack(signatures)
    actor, critic = signatures.signature_def["serving_default"], signatures.signature_def["value"]
    observation = actor.inputs["observation"]
    assert json_format.MessageToDict(observation)["dtype"] == dtype
    assert [d.size for d in observation.tensor_shape.dim] == shape
    assert [d.size for d in actor.outputs["probabilities"].tensor_shape.dim] == [-1, width]
    assert [d.size for d in critic.outputs["value"].tensor_shape.dim] == [-1, 1]


# ---- 15: predict, its bad requests and its JSON ---------------------------------------------

@pytest.mark.parametrize("model", [TABULAR, BOX])
def test_predict_answers_parse_as_predict_response(client, model):
    rows = ok(post(client, f"/v1/models/{model}:predict", {"instances": OBSERVATIONS[model]}))
    assert set(rows) == {"predictions"}
    response = as_predict_response({"probabilities": rows["predictions"]})
    assert [d.size for d in response.outputs["probabilities"].tensor_shape.dim] == [2, len(ACTIONS[model])]
    columns = ok(post(client, f"/v1/models/{model}/versions/1:predict",
                      {"signature_name": "value", "inputs": {"observation": OBSERVATIONS[model]}}))
    assert set(columns) == {"outputs"}
    response = as_predict_response({"value": columns["outputs"]})
    assert [d.size for d in response.outputs["value"].tensor_shape.dim] == [2, 1]


@pytest.mark.parametrize("body", [
    {"instances": [0], "inputs": [0]},  # both
    {"signature_name": "serving_default"},  # neither
    {"signature_name": "nope", "instances": [0]},
    {"signature_name": 3, "instances": [0]},
    {"instances": []},
    {"instances": 4},
    {"inputs": []},
    {"instances": [[0]], "signature": "value"},  # an unknown field
    {"instances": [{"position": 0}]},
    {"instances": [99]},
])
def test_bad_predict_requests_are_400(client, body):
    assert assert_error(post(client, f"/v1/models/{TABULAR}:predict", body), 400)


@pytest.mark.parametrize("instances", [[[0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0, 0.0, 0.0]], [["a", 0, 0, 0]]])
def test_a_box_instance_of_the_wrong_width_or_type_is_400(client, instances):
    assert assert_error(post(client, f"/v1/models/{BOX}:predict", {"instances": instances}), 400)


def test_a_bare_value_is_one_observation_answered_without_a_batch_dimension(client):
    batch = ok(post(client, f"/v1/models/{TABULAR}:predict", {"inputs": [4]}))["outputs"]
    assert ok(post(client, f"/v1/models/{TABULAR}:predict", {"inputs": 4}))["outputs"] == batch[0]
    assert ok(post(client, f"/v1/models/{TABULAR}:predict", {"inputs": {"observation": 4}}))["outputs"] == batch[0]
    value = ok(post(client, f"/v1/models/{TABULAR}:predict", {"signature_name": "value", "inputs": 4}))["outputs"]
    assert len(value) == 1 and isinstance(value[0], float)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_tokens_are_json_here_and_outside_every_observation_space(client, token):
    body = '{"instances": [[%s, 0.0, 0.0, 0.0]]}' % token
    error = assert_error(post(client, f"/v1/models/{BOX}:predict", body), 400)
    assert "JSON" not in error and "observations of cartpole" in error


# ---- Box actions: predict answers action, mean and std; classify has no classes ----------

def test_metadata_of_a_box_action_policy_names_action_mean_and_std(client):
    message = json_format.Parse(client.get(f"/v1/models/{GAUSSIAN}/metadata").data,
                                get_model_metadata_pb2.GetModelMetadataResponse())
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert message.metadata["signature_def"].Unpack(signatures)
    outputs = signatures.signature_def["serving_default"].outputs
    assert {name: [d.size for d in tensor.tensor_shape.dim] for name, tensor in outputs.items()} == {
        "action": [-1, 2], "mean": [-1, 2], "std": [-1, 2]}
    assert [d.size for d in signatures.signature_def["value"].outputs["value"].tensor_shape.dim] == [-1, 1]


@pytest.mark.parametrize("model", [TABULAR, BOX, GAUSSIAN])
def test_metadata_gives_each_output_the_dtype_the_open_inference_protocol_gives_it(client, model):
    message = json_format.Parse(client.get(f"/v1/models/{model}/metadata").data,
                                get_model_metadata_pb2.GetModelMetadataResponse())
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert message.metadata["signature_def"].Unpack(signatures)
    ours = {name: json_format.MessageToDict(tensor)["dtype"]
            for signature in signatures.signature_def.values() for name, tensor in signature.outputs.items()}
    oip = {tensor["name"]: tensor["datatype"] for tensor in client.get(f"/v2/models/{model}").get_json()["outputs"]}
    as_oip = {"DT_FLOAT": "FP32", "DT_DOUBLE": "FP64", "DT_INT64": "INT64", "DT_INT32": "INT32"}
    assert {name: as_oip[dtype] for name, dtype in ours.items()} == {name: oip[name] for name in ours}
    assert "FP64" in oip.values()  # not all one dtype: the check compares something


def test_predict_of_a_box_action_policy_answers_the_greedy_action_mean_and_std(client):
    rows = ok(post(client, f"/v1/models/{GAUSSIAN}:predict", {"instances": GAUSSIAN_OBSERVATIONS}))["predictions"]
    assert [set(row) for row in rows] == [{"action", "mean", "std"}] * 2
    columns = ok(post(client, f"/v1/models/{GAUSSIAN}:predict",
                      {"inputs": {"observation": GAUSSIAN_OBSERVATIONS}}))["outputs"]
    response = as_predict_response(columns)
    assert {name: [d.size for d in t.tensor_shape.dim] for name, t in response.outputs.items()} == {
        "action": [2, 2], "mean": [2, 2], "std": [2, 2]}
    assert columns == {name: [row[name] for row in rows] for name in ("action", "mean", "std")}
    # The action is FP32, the action space's dtype, in every protocol; mean and std FP64.
    np.testing.assert_array_equal(columns["action"], np.clip(columns["mean"], -2, 2).astype(np.float32))
    ours = client.post("/act", json={"observations": GAUSSIAN_OBSERVATIONS, "mode": "greedy",
                                     "policy": GAUSSIAN}).get_json()["actions"]
    np.testing.assert_allclose(columns["action"], ours, rtol=1e-6)
    one = ok(post(client, f"/v1/models/{GAUSSIAN}:predict", {"inputs": {"observation": [GAUSSIAN_OBSERVATIONS[0]]}}))
    assert one["outputs"] == {name: rows[:1] for name, rows in columns.items()}


def test_classify_of_a_box_action_policy_is_400(client):
    examples = [{"observation": o} for o in GAUSSIAN_OBSERVATIONS]
    assert "not classes" in assert_error(post(client, f"/v1/models/{GAUSSIAN}:classify", {"examples": examples}), 400)
