"""A volume published by the schema-1 service (52dc247) keeps serving unchanged: the same
answers its own loader tabulated, and the same /policy table with the lake's rows (the app
in process: what it answers is the question, not how processes hand it over)."""

import json
import shutil
from pathlib import Path

import numpy as np

from service.settings import Settings
from tests.services import InProcessService
from tests.tolerances import FLOAT32_REORDERED

DATA = Path(__file__).resolve().parents[1] / "data"
POLICY = "frozenlake-4x4"


def test_a_schema_1_version_serves_the_answers_it_always_did(tmp_path):
    root = tmp_path / "artifacts"
    shutil.copytree(DATA / "v1-artifact", root)
    expected = json.loads((DATA / "v1-artifact-tables.json").read_text())
    service = InProcessService(Settings(artifact_root=root), tmp_path / "cache")
    states = list(range(16))
    probabilities = service.post("/policy", {"observations": states}).json()
    assert probabilities["version"] == 1 and probabilities["action_names"] == ["LEFT", "DOWN", "RIGHT", "UP"]
    # The tables were recorded from Keras' float32 arithmetic; the service computes in
    # float64 (and other CPUs round float32 differently): equal within float32 rounding.
    np.testing.assert_allclose(probabilities["probabilities"], expected["probabilities"], **FLOAT32_REORDERED)
    np.testing.assert_allclose(service.post("/value", {"observations": states}).json()["values"],
                               expected["values"], **FLOAT32_REORDERED)
    table = service.get("/policy").json()
    # Schema 1 kept the map in env.desc; it is served as the layout's rows.
    assert table["layout"]["rows"] == json.loads((root / POLICY / "1" / "manifest.json").read_text())["env"]["desc"]
    assert service.get("/").status_code == 200
