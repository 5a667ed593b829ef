from tests.services import POLICY, RunningService  # noqa: F401  (imported from here by the tests)
