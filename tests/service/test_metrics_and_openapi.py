"""Prometheus metrics add up across workers; the OpenAPI document describes the API."""

import re

from tests.services import POLICY


def test_metrics_count_requests_of_every_worker(service):
    def act_count():
        text = service.get("/metrics").text
        match = re.search(r'lake_requests_total\{method="POST",route="/act",status="200"\} (\S+)', text)
        return float(match.group(1)) if match else 0.0

    before = act_count()
    for _ in range(40):  # spread over both workers by the kernel's accept queue
        assert service.post("/act", {"observation": 0}).status_code == 200
    assert act_count() == before + 40
    text = service.get("/metrics").text
    assert f'lake_served_version{{policy="{POLICY}"}} 1.0' in text
    assert "lake_request_seconds_bucket" in text


def test_openapi_document_lists_every_route_with_schemas(service):
    document = service.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/act", "/value", "/policy", "/models", "/models/{name}", "/healthz", "/readyz", "/metrics"} <= set(
        document["paths"])
    act_schema = document["components"]["schemas"]["ActRequest"]
    assert act_schema["additionalProperties"] is False
    assert set(act_schema["properties"]) >= {"observation", "observations", "mode", "seed", "policy", "version"}
