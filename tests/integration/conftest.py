import pytest

from tests.services import RunningService


@pytest.fixture(scope="session")
def trained_service(trained_lake, tmp_path_factory):
    """A service over the policy the real trainer CLI trained on the deterministic 4x4 lake."""
    root = trained_lake.copy_to(tmp_path_factory.mktemp("served") / "artifacts")
    with RunningService(root, tmp_path_factory.mktemp("log") / "service.log") as service:
        service.wait_ready()
        yield service


@pytest.fixture(scope="session")
def two_env_service(trained_taxi_and_cartpole, tmp_path_factory):
    """A service over the Taxi and CartPole policies the real trainer CLI trained: neither
    has a grid to draw."""
    root = trained_taxi_and_cartpole.copy_to(tmp_path_factory.mktemp("served") / "artifacts")
    with RunningService(root, tmp_path_factory.mktemp("log") / "service.log") as service:
        service.wait_ready()
        service.wait_until_every_worker(lambda: set(service.get("/readyz").json()["served"]) == {"cartpole", "taxi"},
                                        "both policies served")
        yield service
