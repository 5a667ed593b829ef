"""The client installs without TensorFlow, Keras or gymnasium: the base install of the
project is the client; training and serving are the `server` extra."""

import json
import sys
from pathlib import Path

from tests.processes import run
from tests.timing import seconds

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"tensorflow", "tensorflow-cpu", "keras", "gymnasium", "flask", "gunicorn", "onnxruntime"}


def resolved(requirement: str, tmp_path) -> set[str]:
    """Returns the names pip would install for `requirement` into an empty environment."""
    report = tmp_path / "report.json"
    run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", str(report), requirement], check=True, capture_output=True, timeout=seconds(300))
    return {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}


def test_the_base_install_is_the_client_without_tensorflow(tmp_path):
    names = resolved(str(ROOT), tmp_path)
    assert {"requests", "pydantic", "keras-policy-server"} <= names
    assert not names & HEAVY, names & HEAVY


def test_the_server_extra_brings_training_and_serving(tmp_path):
    names = resolved(f"{ROOT}[server]", tmp_path)
    assert {"keras", "gymnasium", "flask", "gunicorn", "onnxruntime"} <= names


def test_the_client_modules_import_with_requests_and_pydantic_only():
    code = ("import sys, service.client, service.schemas; "
            "heavy = {'tensorflow', 'keras', 'gymnasium', 'flask', 'numpy', 'onnxruntime'} & set(sys.modules); "
            "sys.exit(str(sorted(heavy)) if heavy else 0)")
    result = run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=seconds(60))
    assert result.returncode == 0, result.stdout + result.stderr
