"""Every manifest passes kubernetes-validate's strict schemas (unknown fields refused)."""

import copy

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from tests.deploy.conftest import KUSTOMIZATION, MANIFEST_FILES, only_container

# The newest release the installed schemas know, and the oldest still common on managed
# clusters: every API used (apps/v1, batch/v1 CronJob, policy/v1, autoscaling/v2) is GA in both.
KUBERNETES_VERSIONS = ["1.30.0", latest_version()]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: p.name)
def test_manifest_passes_strict_validation(path, version):
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, version, strict=True)


def test_strict_validation_refuses_a_misspelt_field(manifests):
    deployment = copy.deepcopy(manifests["Deployment"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, latest_version(), strict=True)


def test_kustomization_applies_every_manifest_but_the_cronjob_example(manifests):
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    names = {path.name for path in MANIFEST_FILES}
    assert set(kustomization["resources"]) == names - {"trainer-cronjob.yaml"}
    # Each image the workloads run (the service's and the trainer's) is set there, and no other.
    used = {only_container(manifests[kind])["image"] for kind in ("Deployment", "Job", "CronJob")}
    assert used == {f"{entry['name']}:{entry['newTag']}" for entry in kustomization["images"]}
