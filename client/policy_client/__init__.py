"""Python client of the Keras policy server: its HTTP API as methods, its wire models
(`policy_client.schemas`), and `policy-client play`, which plays a served policy's own
environment through the service (the `play` extra: gymnasium).

The client's names are imported on first use: the server imports `policy_client.schemas`
into gevent workers, which must not import requests (and ssl) before gevent patches them.
"""

from __future__ import annotations

import importlib

__all__ = ["Mode", "Observation", "PolicyClient", "PolicyServiceError"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("policy_client.client"), name)
    raise AttributeError(f"module 'policy_client' has no attribute {name!r}")
