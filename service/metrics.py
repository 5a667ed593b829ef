"""Prometheus metrics, correct under several gunicorn workers and the loader process.

gunicorn's master sets PROMETHEUS_MULTIPROC_DIR before any worker starts, so each
process writes its own files there and `/metrics` adds them up (prometheus_client's
multiprocess mode). Without it (a plain Flask run) the default registry is used.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from functools import lru_cache

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import REGISTRY, multiprocess

from policy_client.schemas import VersionState

REQUESTS = Counter("lake_requests_total", "HTTP requests answered.", ["route", "method", "status"])
LATENCY = Histogram(
    "lake_request_seconds", "Time to answer a request.", ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
SERVED_VERSION = Gauge(
    "lake_served_version", "Version each policy is served at.", ["policy"], multiprocess_mode="livemax"
)
LOAD_FAILURES = Counter("lake_load_failures_total", "Policy versions the loader refused.", ["policy"])
VERSIONS = Gauge(
    "lake_versions", "Versions known to the loader, by state.", ["policy", "state"],
    multiprocess_mode="livemostrecent",
)


# Label values come from closed sets, so a client cannot grow the metrics without bound.
KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def method_label(method: str) -> str:
    """Returns the method as a label: one of KNOWN_METHODS, else "other"."""
    return method if method in KNOWN_METHODS else "other"


# Looking up a labelled child costs more than incrementing it; the label sets are few
# (routes x methods x statuses), so each child is looked up once per process.
@lru_cache(maxsize=1024)
def requests_counter(route: str, method: str, status: int):
    """Returns the request counter for these labels."""
    return REQUESTS.labels(route=route, method=method, status=str(status))


@lru_cache(maxsize=256)
def latency_histogram(route: str):
    """Returns the latency histogram for this route."""
    return LATENCY.labels(route=route)


def record_versions(state) -> None:
    """Sets the per-state version counts from the loader's published state."""
    for name, policy in state.policies.items():
        counts = dict.fromkeys(VersionState, 0)
        for record in policy.versions:
            counts[record.state] += 1
        for version_state, count in counts.items():
            VERSIONS.labels(policy=name, state=version_state.value).set(count)


def _ensure_directory() -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)  # a /tmp cleaner may have removed it


_last_complaint = [0.0]


def record(update: Callable[[], None]) -> None:
    """Runs a metrics update; trouble with the metrics files (a removed directory, a full
    disk) is logged (once a minute) and the directory re-created, never raised: metrics
    fail no request."""
    try:
        update()
    except OSError as exc:
        if time.monotonic() - _last_complaint[0] > 60:
            _last_complaint[0] = time.monotonic()
            logging.getLogger("service.metrics").warning("could not update a metric: %s", exc)
        try:
            _ensure_directory()
        except OSError:
            pass


def exposition() -> tuple[bytes, str]:
    """Returns the metrics page and its content type; raises OSError if the multiprocess
    directory cannot be made or read (the route answers 503 then)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _ensure_directory()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
