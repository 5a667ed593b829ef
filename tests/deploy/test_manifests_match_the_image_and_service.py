"""What a schema cannot check: the manifests agree with the image, the service and each other."""

import copy
import json
import re
import sys

import pytest
import yaml

from service.settings import Settings
from tests.deploy.conftest import ROLE_OF_KIND, ROOT, dockerfile_stages, only_container, pod_template
from tests.processes import run
from tests.timing import seconds

WORKLOADS = list(ROLE_OF_KIND)
IMAGE_NAMES = {"service": "keras-policy-server", "trainer": "keras-policy-trainer"}


def container_port(container: dict, port) -> int:
    """Returns the number a probe's or Service's `port` (a number or a port name) resolves to."""
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    return number


def env_of(container: dict) -> dict[str, str]:
    return {variable["name"]: variable["value"] for variable in container.get("env", [])}


def artifact_mount(manifest: dict, images: dict) -> tuple[dict, dict]:
    """Returns the volume mount at the image's POLICY_ARTIFACT_ROOT, and the volume it mounts."""
    spec = pod_template(manifest)["spec"]
    image = images[ROLE_OF_KIND[manifest["kind"]]]
    [mount] = [m for m in only_container(manifest)["volumeMounts"]
               if m["mountPath"] == image["env"]["POLICY_ARTIFACT_ROOT"]]
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    return mount, volume


def installed_extra(role: str) -> str:
    """Returns the pyproject.toml extra whose requirements the Dockerfile installs into `role`'s image."""
    stages = dockerfile_stages()
    [builder] = re.findall(r"^COPY --from=(\S+) /opt/venv ", stages[role][1], re.M)
    [extra] = re.findall(r"requirements\.py (\w+)", stages[builder][1])
    return extra


def distribution_names(extra: str) -> set[str]:
    """Returns the names of the distributions the project with `extra` requires."""
    lines = run([sys.executable, str(ROOT / "scripts" / "requirements.py"), extra],
                check=True, capture_output=True, text=True, timeout=seconds(60)).stdout.splitlines()
    return {re.match(r"[A-Za-z0-9_.-]+", line)[0].lower().replace("_", "-") for line in lines}


@pytest.mark.parametrize("role", ["service", "trainer"])
def test_compose_builds_each_role_from_its_own_target(role):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][role]
    assert compose["build"]["target"] == role and role in dockerfile_stages()
    # `docker build .` with no target builds the last stage: the service.
    assert list(dockerfile_stages())[-1] == "service"


def test_the_service_image_installs_no_tensorflow_keras_jax_or_gymnasium():
    service, trainer = distribution_names(installed_extra("service")), distribution_names(installed_extra("trainer"))
    assert not service & {"tensorflow", "tensorflow-cpu", "keras", "jax", "gymnasium", "tf2onnx"}
    assert {"tensorflow-cpu", "keras", "gymnasium"} <= trainer
    assert {"gunicorn", "flask", "gevent"} <= service and not trainer & {"gunicorn", "flask", "gevent"}


@pytest.mark.parametrize("kind", WORKLOADS)
def test_every_pod_runs_its_roles_image_as_its_non_root_user(manifests, images, kind):
    role = ROLE_OF_KIND[kind]
    image = images[role]
    pod = pod_template(manifests[kind])["spec"]
    container = only_container(manifests[kind])
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][role]
    compose_image = compose["image"].split(":-", 1)[1].rstrip("}")  # ${POLICY_..._IMAGE:-name:tag}
    repository, tag = container["image"].rsplit(":", 1)
    assert repository == compose_image.rsplit(":", 1)[0] == IMAGE_NAMES[role]
    assert tag not in ("", "latest") and container["imagePullPolicy"] == "IfNotPresent"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (image["uid"], image["gid"])
    assert pod["securityContext"]["fsGroup"] == image["gid"]
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("kind", WORKLOADS)
def test_every_container_is_locked_down_with_a_writable_tmp(manifests, images, kind):
    container = only_container(manifests[kind])
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    # The root is read-only; the image's HOME (gunicorn, the loader, TensorFlow in the trainer) is /tmp.
    assert images[ROLE_OF_KIND[kind]]["env"]["HOME"] == "/tmp"
    [tmp] = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    [volume] = [v for v in pod_template(manifests[kind])["spec"]["volumes"] if v["name"] == tmp["name"]]
    assert "sizeLimit" in volume["emptyDir"] and not tmp.get("readOnly")
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"]


def test_the_service_mounts_the_artifacts_read_only(manifests, images):
    mount, volume = artifact_mount(manifests["Deployment"], images)
    assert mount["readOnly"] is True and volume["persistentVolumeClaim"]["readOnly"] is True
    assert env_of(only_container(manifests["Deployment"]))["POLICY_ARTIFACT_ROOT"] == mount["mountPath"]


@pytest.mark.parametrize("kind", ["Job", "CronJob"])
def test_the_trainer_publishes_into_the_same_claim_writable(manifests, images, kind):
    mount, volume = artifact_mount(manifests[kind], images)
    assert not mount.get("readOnly") and not volume["persistentVolumeClaim"].get("readOnly")
    args = only_container(manifests[kind])["args"]
    assert args[args.index("--artifact-root") + 1] == mount["mountPath"]
    claim = manifests["PersistentVolumeClaim"]
    service_claim = artifact_mount(manifests["Deployment"], images)[1]["persistentVolumeClaim"]["claimName"]
    assert volume["persistentVolumeClaim"]["claimName"] == service_claim == claim["metadata"]["name"]
    # Replicas on several nodes and a trainer on yet another must mount it at once.
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_the_cronjob_runs_the_jobs_pod_with_a_fresh_seed(manifests):
    job, cron = (copy.deepcopy(pod_template(manifests[kind])) for kind in ("Job", "CronJob"))
    job_args, cron_args = (template["spec"]["containers"][0].pop("args") for template in (job, cron))
    seed = job_args.index("--seed")
    assert cron_args == job_args[:seed] + job_args[seed + 2:]
    assert job == cron
    assert job["spec"]["restartPolicy"] == "Never"


def test_probes_ask_the_service_port_for_its_health_routes(manifests, images):
    image = images["service"]
    container = only_container(manifests["Deployment"])
    port = int(env_of(container)["POLICY_PORT"])
    assert port == Settings.model_fields["port"].default == image["expose"] == int(image["env"]["POLICY_PORT"])
    probes = {name: container[name]["httpGet"] for name in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert {name: probe["path"] for name, probe in probes.items()} == {
        "startupProbe": "/readyz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    assert {container_port(container, probe["port"]) for probe in probes.values()} == {port}
    assert env_of(container)["POLICY_HOST"] == "0.0.0.0"  # probes come from the kubelet, not loopback


def test_service_pdb_hpa_and_scraping_point_at_the_deployment(manifests):
    deployment = manifests["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    container = only_container(deployment)
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    service = manifests["Service"]
    assert service["spec"]["selector"].items() <= labels.items()
    [port] = service["spec"]["ports"]
    assert container_port(container, port["targetPort"]) == int(env_of(container)["POLICY_PORT"])
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    assert manifests["PodDisruptionBudget"]["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]}
    assert hpa["minReplicas"] == deployment["spec"]["replicas"] and [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    assert "cpu" in container["resources"]["requests"]  # utilisation is a share of the request
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == int(env_of(container)["POLICY_PORT"])


def test_deployment_environment_is_service_settings(manifests):
    container = only_container(manifests["Deployment"])
    prefix = Settings.model_config["env_prefix"]
    names = {f"{prefix}{field}".upper() for field in Settings.model_fields}
    assert set(env_of(container)) <= names, set(env_of(container)) - names
    assert json.loads(env_of(container)["POLICY_PINNED_VERSIONS"]) == {}
    # Rollouts keep every replica serving; in-flight requests finish before the kill.
    assert manifests["Deployment"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    grace = pod_template(manifests["Deployment"])["spec"]["terminationGracePeriodSeconds"]
    assert grace > Settings.model_fields["graceful_timeout"].default
