"""The client is its own distribution (client/, `keras-policy-client`): requests and pydantic
only, no `service`, `trainer` or `policy_artifacts` package, and every command it installs
works or says in one line what to install. The server (`keras-policy-server`) depends on it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import run
from tests.timing import seconds

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "client"
HEAVY = {"tensorflow", "tensorflow-cpu", "keras", "gymnasium", "numpy", "flask", "gunicorn", "onnxruntime"}
SERVER_PACKAGES = ("service", "trainer", "policy_artifacts")


def pip(python, *args, cwd, timeout=300) -> str:
    result = run([str(python), "-m", "pip", *args], capture_output=True, text=True, cwd=cwd,
                 timeout=seconds(timeout))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """Returns a wheelhouse holding the client's wheel, built as the README says."""
    directory = tmp_path_factory.mktemp("wheelhouse")
    pip(sys.executable, "wheel", "--no-deps", "--quiet", str(CLIENT), "-w", str(directory), cwd=directory)
    return directory


def resolved(requirement: str, tmp_path, *options: str) -> set[str]:
    """Returns the names pip would install for `requirement` into an empty environment."""
    report = tmp_path / "report.json"
    pip(sys.executable, "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
        *options, requirement, cwd=tmp_path)
    return {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}


@pytest.fixture(scope="module")
def client_only(tmp_path_factory) -> Path:
    """Returns the bin directory of a fresh virtual environment with only `pip install ./client`."""
    home = tmp_path_factory.mktemp("client-only")
    run([sys.executable, "-m", "venv", str(home / "venv")], check=True, timeout=seconds(120))
    pip(home / "venv" / "bin" / "python", "install", "--quiet", str(CLIENT), cwd=home)
    return home / "venv" / "bin"


def in_client_only(client_only: Path, *args: str) -> subprocess.CompletedProcess:
    """Returns the finished command, run with the client-only environment first on PATH."""
    # Away from the checkout, whose folders would otherwise be importable from the working directory.
    env = {**os.environ, "PATH": f"{client_only}{os.pathsep}{os.environ['PATH']}"}
    return run(list(args), capture_output=True, text=True, cwd=client_only.parent.parent, env=env,
               timeout=seconds(60))


def test_a_client_only_install_has_no_server_package_and_nothing_heavy(client_only):
    code = ("import importlib.util as u, sys; "
            f"print(*(m for m in {SERVER_PACKAGES + tuple(HEAVY - {'tensorflow-cpu'})!r} if u.find_spec(m)))")
    result = in_client_only(client_only, str(client_only / "python"), "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
    result = in_client_only(client_only, str(client_only / "python"), "-c",
                            "from policy_client import PolicyClient; from policy_client.schemas import ActResponse")
    assert result.returncode == 0, result.stderr


def test_policy_client_help_works_in_a_client_only_install(client_only):
    result = in_client_only(client_only, "policy-client", "--help")
    assert result.returncode == 0, result.stderr
    assert "play" in result.stdout


def test_play_without_gymnasium_says_in_one_line_what_to_install(client_only):
    result = in_client_only(client_only, "policy-client", "play", "--url", "http://127.0.0.1:9", "--episodes", "1")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "pip install 'keras-policy-client[play]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_client_resolves_to_requests_and_pydantic_and_play_adds_gymnasium(tmp_path):
    names = resolved(str(CLIENT), tmp_path)
    assert {"keras-policy-client", "requests", "pydantic"} <= names
    assert not names & HEAVY, names & HEAVY
    assert "gymnasium" in resolved(f"{CLIENT}[play]", tmp_path)


def test_the_client_installs_from_a_wheelhouse_without_an_index(wheelhouse, tmp_path):
    names = resolved("keras-policy-client", tmp_path, "--no-index", "--no-deps", "--find-links", str(wheelhouse))
    assert names == {"keras-policy-client"}


def test_the_server_depends_on_the_client_distribution(wheelhouse, tmp_path):
    names = resolved(str(ROOT), tmp_path, "--find-links", str(wheelhouse))
    assert {"keras-policy-server", "keras-policy-client", "requests", "pydantic"} <= names
    assert not names & HEAVY, names & HEAVY


def test_the_server_extra_brings_training_and_serving(wheelhouse, tmp_path):
    names = resolved(f"{ROOT}[server]", tmp_path, "--find-links", str(wheelhouse))
    assert {"keras-policy-client", "keras", "gymnasium", "flask", "gunicorn", "onnxruntime"} <= names


def test_the_client_modules_import_with_requests_and_pydantic_only():
    code = ("import sys, policy_client, policy_client.cli, policy_client.schemas; "
            "heavy = {'tensorflow', 'keras', 'gymnasium', 'flask', 'numpy', 'onnxruntime', 'service', 'trainer', "
            "'policy_artifacts'} & set(sys.modules); "
            "sys.exit(str(sorted(heavy)) if heavy else 0)")
    result = run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=seconds(60))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_wire_models_import_without_requests_so_gevent_patches_ssl_first():
    # Workers import policy_client.schemas before gevent monkey-patches ssl; importing
    # requests (urllib3, ssl) there made every worker warn that ssl was patched too late.
    probe = "import sys, policy_client.schemas; sys.exit('requests' in sys.modules or 'ssl' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0
