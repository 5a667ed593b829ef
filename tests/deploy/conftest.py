"""The Kubernetes manifests in deploy/kubernetes/, and the facts of the image they run."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = MANIFESTS / "kustomization.yaml"
MANIFEST_FILES = sorted(p for p in MANIFESTS.glob("*.yaml") if p != KUSTOMIZATION)


def load_manifests() -> dict[str, dict]:
    """Returns every manifest by `kind`; each file holds exactly one, and no kind repeats."""
    by_kind = {}
    for path in MANIFEST_FILES:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert len(documents) == 1, f"{path.name}: one manifest per file"
        kind = documents[0]["kind"]
        assert kind not in by_kind, f"{path.name}: a second {kind}"
        by_kind[kind] = documents[0]
    return by_kind


def pod_template(manifest: dict) -> dict:
    """Returns the pod template of a Deployment, Job or CronJob."""
    if manifest["kind"] == "CronJob":
        return manifest["spec"]["jobTemplate"]["spec"]["template"]
    return manifest["spec"]["template"]


def only_container(manifest: dict) -> dict:
    containers = pod_template(manifest)["spec"]["containers"]
    assert len(containers) == 1, f"{manifest['kind']}: one container"
    return containers[0]


# Which of the Dockerfile's targets (and compose's services) each workload runs.
ROLE_OF_KIND = {"Deployment": "service", "Job": "trainer", "CronJob": "trainer"}


def dockerfile_stages() -> dict[str, tuple[str, str]]:
    """Returns each named stage of the Dockerfile as (what it is FROM, its instructions)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return {m["name"]: (m["parent"], m["body"])
            for m in re.finditer(r"^FROM (?P<parent>\S+) AS (?P<name>\S+)$(?P<body>.*?)(?=^FROM |\Z)", text, re.M | re.S)}


def dockerfile_facts(target: str) -> dict:
    """Returns a build target's USER uid and gid, ENV values and EXPOSEd port (None if none),
    from its stage and the stages it is built FROM."""
    stages = dockerfile_stages()
    chain, name = [], target
    while name in stages:
        chain.insert(0, stages[name][1])
        name = stages[name][0]
    instructions = "".join(chain)
    uid, gid = re.findall(r"^USER (\d+):(\d+)$", instructions, re.M)[-1]
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(re.findall(r"^ENV (.*)$", instructions, re.M))))
    expose = re.findall(r"^EXPOSE (\d+)$", instructions, re.M)
    return {"uid": int(uid), "gid": int(gid), "env": env, "expose": int(expose[-1]) if expose else None}


@pytest.fixture(scope="session")
def manifests():
    return load_manifests()


@pytest.fixture(scope="session")
def images():
    """The facts of each role's image, by role: `service` and `trainer`."""
    return {role: dockerfile_facts(role) for role in ("service", "trainer")}
