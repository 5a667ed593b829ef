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


def dockerfile_facts() -> dict:
    """Returns the runtime stage's USER uid and gid, ENV values and EXPOSEd port, from the Dockerfile."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    runtime = text[text.index("AS runtime"):]
    uid, gid = re.search(r"^USER (\d+):(\d+)$", runtime, re.M).groups()
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(re.findall(r"^ENV (.*)$", runtime, re.M))))
    expose = re.search(r"^EXPOSE (\d+)$", runtime, re.M).group(1)
    return {"uid": int(uid), "gid": int(gid), "env": env, "expose": int(expose)}


@pytest.fixture(scope="session")
def manifests():
    return load_manifests()


@pytest.fixture(scope="session")
def image():
    return dockerfile_facts()
