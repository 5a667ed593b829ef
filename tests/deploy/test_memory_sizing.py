"""The README's memory sizing rule holds for the limits compose and Kubernetes set.

Rule (README, "Memory: the sizing rule"): a worker stays within
idle + 1.7 x (POLICY_BODY_BUDGET_BYTES + POLICY_WORKER_CONNECTIONS x 16 KiB); the service is
its workers plus the master and the loader. The idle sizes are measured figures (README)
with room; the bench's held-bodies scenario measures the rule itself.
"""

import re

import yaml

from service.http import SMALL_BODY
from service.settings import Settings
from tests.deploy.conftest import ROOT, load_manifests, only_container

MiB = 1 << 20
IDLE_WORKER, MASTER, LOADER = 100 * MiB, 60 * MiB, 100 * MiB  # measured: ~65-100, ~58, ~71-105
BODY_OVERHEAD = 1.7  # what a body costs while received and parsed, per byte


def needed_bytes(env: dict[str, str]) -> int:
    settings = Settings(**{k[len("POLICY_"):].lower(): v for k, v in env.items()
                           if k in ("POLICY_WORKERS", "POLICY_BODY_BUDGET_BYTES", "POLICY_WORKER_CONNECTIONS")})
    per_worker = IDLE_WORKER + BODY_OVERHEAD * (settings.body_budget_bytes + settings.worker_connections * SMALL_BODY)
    return int(MASTER + LOADER + settings.workers * per_worker)


def to_bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)\s*([a-zA-Z]*)", str(quantity)).groups()
    units = {"": 1, "k": 1e3, "m": 1 << 20, "g": 1 << 30, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    return int(int(number) * units[unit])


def test_compose_gives_the_service_what_the_rule_needs():
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["service"]
    env = {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v)) for k, v in service.get("environment", {}).items()}
    assert to_bytes(service["mem_limit"]) >= needed_bytes(env), (service["mem_limit"], needed_bytes(env) / MiB)


def test_the_deployment_gives_each_replica_what_the_rule_needs():
    container = only_container(load_manifests()["Deployment"])
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    limit = to_bytes(container["resources"]["limits"]["memory"])
    assert limit >= needed_bytes(env), (limit / MiB, needed_bytes(env) / MiB)


def test_the_rule_grows_with_the_settings_it_names():
    # So that raising the budget or the connections in a manifest without its limit fails above.
    base = needed_bytes({"POLICY_WORKERS": "2"})
    assert needed_bytes({"POLICY_WORKERS": "2", "POLICY_BODY_BUDGET_BYTES": str(256 * MiB)}) > base + 400 * MiB
    assert needed_bytes({"POLICY_WORKERS": "4"}) > base
