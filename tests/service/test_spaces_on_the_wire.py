"""Every protocol describes and checks observations by the policy's space, so they agree:
the same wire datatype in the Open Inference Protocol and TF Serving, the same batch cap
message, and grid answers drawn from the manifest's layout alone. In-process."""

import json

import numpy as np
import pytest

from policy_artifacts.manifest import GridLayout
from service.page import END_COLOUR, GOAL_COLOUR, tiles
from service.protocols.tensors import DATATYPES
from service.protocols.tfserving import TF_DTYPES
from tests.service.inprocess import BOX, MAX_BATCH, TABULAR, build_client, publish_both


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    publish_both(root)
    return build_client(root, tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("model, dtype, shape", [(TABULAR, np.int64, [-1, 1]), (BOX, np.float32, [-1, 4])])
def test_oip_and_tf_serving_name_the_same_observation_datatype(client, model, dtype, shape):
    oip = client.get(f"/v2/models/{model}").json["inputs"][0]
    signature = client.get(f"/v1/models/{model}/metadata").json["metadata"]["signature_def"]["signature_def"]
    tf = signature["serving_default"]["inputs"]["observation"]
    assert DATATYPES[oip["datatype"]] == np.dtype(dtype)
    assert {name: dt for dt, name in TF_DTYPES.items()}[tf["dtype"]] == np.dtype(dtype)
    assert oip["shape"] == shape == [int(d["size"]) for d in tf["tensor_shape"]["dim"]]
    config = client.get(f"/v2/models/{model}/config").json["input"][0]
    assert config["data_type"] == f"TYPE_{oip['datatype']}"


def test_the_platform_names_no_environment(client):
    assert client.get(f"/v2/models/{TABULAR}").json["platform"] == "numpy_tables"
    assert client.get(f"/v2/models/{BOX}").json["platform"] == "onnxruntime_onnx"


def test_every_protocol_refuses_an_oversized_batch_in_the_same_words(client):
    count = MAX_BATCH + 1
    expected = f"at most {MAX_BATCH} per request, got {count}"
    ours = client.post("/act", json={"policy": TABULAR, "observations": [0] * count})
    oip = client.post(f"/v2/models/{TABULAR}/infer", data=json.dumps(
        {"inputs": [{"name": "observation", "shape": [count], "datatype": "INT64", "data": [0] * count}]}))
    tf = client.post(f"/v1/models/{TABULAR}:predict", data=json.dumps({"instances": [0] * count}))
    assert ours.status_code == 422 and ours.json["error"]["message"] == f"observations: {expected}"
    assert oip.status_code == 400 and oip.json["error"] == f"inputs[0]: {expected}"
    assert tf.status_code == 400 and tf.json["error"] == f"instances: {expected}"


def test_the_table_answer_carries_the_manifests_layout(client):
    table = client.get(f"/policy?policy={TABULAR}").json
    assert table["layout"]["rows"] == ["SFFF", "FHFH", "FFFH", "HFFG"]
    assert table["layout"]["legend"]["H"] == "hole" and table["layout"]["terminal"] == "HG"
    assert "desc" not in table
    assert [(c["row"], c["col"]) for c in table["cells"][3:5]] == [(0, 3), (1, 0)]


def test_frozenlake_tiles_are_drawn_from_its_legend():
    layout = GridLayout(rows=["SFFF", "FHFH", "FFFH", "HFFG"],
                        legend={"S": "start", "F": "frozen", "H": "hole", "G": "goal"}, terminal="HG")
    drawn = tiles(layout)
    assert GOAL_COLOUR in drawn["G"].style and END_COLOUR in drawn["H"].style and drawn["H"].dark
    assert "outline" in drawn["S"].style and drawn["F"].style == ""


def test_cliffwalking_tiles_are_drawn_from_its_legend():
    layout = GridLayout(rows=["." * 12, "." * 12, "." * 12, "S" + "C" * 10 + "G"],
                        legend={"S": "start", ".": "ground", "C": "cliff (-100, back to start)", "G": "goal"},
                        terminal="G")
    drawn = tiles(layout)
    assert GOAL_COLOUR in drawn["G"].style and "outline" in drawn["S"].style and drawn["."].style == ""
    assert drawn["C"].style and drawn["C"].style != drawn["G"].style and END_COLOUR not in drawn["C"].style


def test_the_page_draws_the_grid_and_writes_its_legend_once(client):
    page = client.get("/").text
    assert page.count('class="H"') == 4 and page.count('class="G"') == 1
    assert page.count(GOAL_COLOUR) == 2  # the goal cell and its swatch in the legend
    assert page.count("H hole") == 1
