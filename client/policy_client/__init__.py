"""Python client of the Keras policy server: its HTTP API as methods, its wire models
(`policy_client.schemas`), and `policy-client play`, which plays a served policy's own
environment through the service (the `play` extra: gymnasium)."""

from policy_client.client import Mode, Observation, PolicyClient, PolicyServiceError

__all__ = ["Mode", "Observation", "PolicyClient", "PolicyServiceError"]
