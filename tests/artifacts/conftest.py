import pytest

from tests.helpers import publish_models, random_models


@pytest.fixture
def published(tmp_path):
    actor, critic = random_models()
    version = publish_models(tmp_path, "frozenlake-4x4", actor, critic)
    return version, actor, critic
