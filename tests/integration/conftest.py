import subprocess
import sys

import pytest

from tests.service.conftest import RunningService, start_service  # noqa: F401  (shared fixture)


@pytest.fixture(scope="module")
def trained_service(tmp_path_factory):
    """A service over a policy trained by the real trainer CLI on the deterministic 4x4 lake."""
    root = tmp_path_factory.mktemp("artifacts")
    subprocess.run([sys.executable, "-m", "trainer", "--map", "4x4", "--seed", "0", "--quiet",
                    "--artifact-root", str(root)], check=True, timeout=300)
    service = RunningService(root, tmp_path_factory.mktemp("log") / "service.log")
    service.wait_ready()
    yield service
    service.stop()
