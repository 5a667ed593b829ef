from tests.service.conftest import published_policy, service, start_service  # noqa: F401  (shared fixtures)
