#!/usr/bin/env bash
# Builds both images (the Dockerfile's `service` and `trainer` targets), prints their sizes,
# checks that the service image has no TensorFlow, and runs docker-compose.yml for real with
# Podman and podman-compose (CI machines have no Docker engine and no registry; see
# ../shared/CONTAINERS.md):
#   1. the trainer job publishes frozenlake-4x4 version 1 into the `artifacts` volume;
#   2. the service answers /act from that volume; so does a second replica started from
#      the image's defaults (`docker run` style) on the same volume, read-only;
#   3. `run --rm trainer ...` publishes version 2, and both running replicas answer with it
#      without a restart; then a new policy (8x8 slippery) appears the same way.
# Then deploy/kubernetes/ with `podman kube play` (the PVC, the trainer Job's pod template,
# the Deployment's two replicas; see .ci/kube_play.py for what podman cannot run as is):
#   4. the trainer publishes version 1 into the claim; both replicas become ready (how long
#      after its container started each one's first /readyz 200 came is printed);
#   5. 4 clients for 30 s on both replicas while the trainer publishes version 2 and one replica
#      is SIGKILLed (podman restarts it, as a kubelet would): both serve version 2, no request
#      to the other fails, and the killed one serves again (the seconds each took are printed).
# What works decides the exit status, never how fast: every wait has a deadline only so that
# a hang ends, long enough for a busy machine; sizes, seconds and memory are printed.
# The build runs with no network at all: dependencies come from a wheelhouse downloaded on
# the host for the base image's Python. Set-up is idempotent and leaves /etc alone (podman
# reads $CONTAINERS_CONF). Only a machine where Podman cannot be installed or started
# skips, loudly; any other failure exits non-zero. Containers and volumes are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${POLICY_CI_TOOLS:-/var/tmp/lake-ci}
DEFAULT_BASE=localhost/debian-python-slim:bookworm
BASE=${POLICY_CI_BASE_IMAGE:-$DEFAULT_BASE}
SERVICE_IMAGE=localhost/keras-policy-server:ci
TRAINER_IMAGE=localhost/keras-policy-trainer:ci
PROJECT=lakeci$$
PORT=${POLICY_CI_PORT:-18765}
REPLICA_PORT=$((PORT + 1))
REPLICA=${PROJECT}_replica
KUBE=$TOOLS/kube-$PROJECT
LOGS=$TOOLS/logs
export CONTAINERS_CONF=$TOOLS/containers.conf
mkdir -p "$LOGS"

timings=()
phase_name=""
phase_started=$SECONDS
end_phase() {
    if [ -n "$phase_name" ]; then
        timings+=("$(printf '%5d s  %s' $((SECONDS - phase_started)) "$phase_name")")
    fi
    phase_name=""
}
phase() {
    end_phase
    phase_name=$1
    phase_started=$SECONDS
    echo "=== [${SECONDS}s] $1"
}
print_timings() {
    end_phase
    echo "=== timings"
    printf '%s\n' "${timings[@]}"
    printf '%5d s  total\n' "$SECONDS"
}
trap print_timings EXIT
skip() {
    echo "################################################################################"
    echo "# SKIPPED: the container test did not run: $*"
    echo "# The image and docker-compose.yml were NOT tested on this machine."
    echo "################################################################################"
    exit 0
}
# Runs a command with its output in $LOGS/NAME.log; on failure shows the end of it.
logged() {
    local name=$1
    shift
    if ! "$@" >"$LOGS/$name.log" 2>&1; then
        echo "FAILED: $* (last lines of $LOGS/$name.log):" >&2
        tail -n 40 "$LOGS/$name.log" >&2
        return 1
    fi
}

phase "podman set-up"
missing=()
for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || skip "${missing[*]} not installed, and installing needs root"
    logged apt-update apt-get update || skip "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive logged apt-install apt-get install -y "${missing[@]}" \
        || skip "apt-get could not install ${missing[*]}"
fi
# crun fails on these machines ("cgroups in hybrid mode not supported"), and default
# ulimits above the machine's hard limits make every container fail in setrlimit.
cat >"$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$(cat /proc/sys/kernel/pid_max):$(cat /proc/sys/kernel/pid_max)"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
podman info >"$LOGS/podman-info.log" 2>&1 \
    || skip "podman is installed but cannot start: $(tail -n 1 "$LOGS/podman-info.log")"
if [ ! -x "$TOOLS/venv/bin/podman-compose" ]; then
    logged venv python3 -m venv "$TOOLS/venv"
    logged podman-compose "$TOOLS/venv/bin/python" -m pip install "podman-compose>=1.2,<2" \
        || skip "podman-compose could not be installed from PyPI"
fi
COMPOSE=("$TOOLS/venv/bin/podman-compose" -p "$PROJECT" -f docker-compose.yml)

phase "base image $BASE"
if ! podman image exists "$BASE"; then
    [ "$BASE" = "$DEFAULT_BASE" ] || { echo "base image $BASE does not exist" >&2; exit 1; }
    [ "$(id -u)" = 0 ] || skip "making $BASE with debootstrap needs root"
    rootfs=$TOOLS/rootfs
    rm -rf "$rootfs"
    logged debootstrap debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "${POLICY_CI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
    # Anything this machine's HTTPS goes through (an intercepting proxy here) must be
    # trusted inside containers too. Copied at run time from the host, never committed.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        logged ca chroot "$rootfs" update-ca-certificates
    fi
    # What python:3.11-slim-bookworm, the Dockerfile's default base, leaves out too: apt's
    # package lists, documentation, manual pages and translations (~100 MB).
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
    tar -C "$rootfs" -c . | logged import podman import - "$BASE"
    rm -rf "$rootfs"
fi

phase "wheelhouse for the base image's Python"
# Wheels for the Python, glibc and CPU of the image, whatever the host runs: "3.11 36 x86_64".
read -r py_version glibc_minor machine < <(podman run --rm "$BASE" python3 -c '
import platform, sys
print(f"{sys.version_info[0]}.{sys.version_info[1]}", platform.libc_ver()[1].split(".")[1], platform.machine())')
[ -n "${machine:-}" ] || { echo "could not run python3 in $BASE" >&2; exit 1; }
platforms=(--platform "manylinux2014_$machine")
for minor in $(seq 17 "$glibc_minor"); do
    platforms+=(--platform "manylinux_2_${minor}_$machine")
done
# What the Dockerfile installs into either image (the base dependencies, the client's in the
# client distribution's place, and the serve or train extra), and the build-system
# requirements: the build installs the client and the server themselves.
python3 scripts/requirements.py --build serve train >"$TOOLS/requirements.txt"
logged wheelhouse "$TOOLS/venv/bin/python" -m pip download --only-binary=:all: --dest wheelhouse \
    --python-version "$py_version" --implementation cp --abi "cp${py_version/./}" "${platforms[@]}" \
    -r "$TOOLS/requirements.txt"
# The client distribution's own wheel (pure Python), as README says to make it.
logged client-wheel "$TOOLS/venv/bin/python" -m pip wheel --no-deps --wheel-dir wheelhouse ./client
echo "wheelhouse: $(find wheelhouse -name '*.whl' | wc -l) wheels for CPython $py_version, glibc 2.$glibc_minor, $machine"

phase "a client-only install from the wheelhouse (no network)"
# keras-policy-client alone, from the wheelhouse: no server package, no gymnasium; its one
# command answers --help, and `play` without gymnasium says in one line what to install.
logged client-only podman run --rm --network none -v "$PWD/wheelhouse:/wheelhouse:ro" "$BASE" sh -ec '
    python3 -m venv /tmp/client && cd /tmp
    /tmp/client/bin/pip install --quiet --no-index --find-links /wheelhouse keras-policy-client
    /tmp/client/bin/python -c "import importlib.util as u, sys; found = [m for m in (\"service\", \"trainer\", \"policy_artifacts\", \"gymnasium\", \"numpy\") if u.find_spec(m)]; sys.exit(f\"client-only install has {found}\" if found else 0)"
    /tmp/client/bin/policy-client --help >/dev/null
    status=0; /tmp/client/bin/policy-client play 2>/tmp/play.err || status=$?
    cat /tmp/play.err; test "$status" = 2 && grep -q "keras-policy-client\[play\]" /tmp/play.err'
tail -n 1 "$LOGS/client-only.log"

phase "build both images (no network)"
build_target() {  # TARGET IMAGE
    # Docker format: the OCI format has no HEALTHCHECK, and podman drops it.
    logged "build-$1" podman build --format docker --network none --target "$1" \
        --build-arg BASE_IMAGE="$BASE" --build-arg PIP_NO_INDEX=1 -t "$2" .
    test "$(podman run --rm --no-healthcheck --entrypoint id "$2" -u)" = 10001
}
build_target trainer "$TRAINER_IMAGE"
build_target service "$SERVICE_IMAGE"
test "$(podman image inspect --format '{{json .Config.Healthcheck.Test}}' "$SERVICE_IMAGE")" != null
for image in "$BASE" "$SERVICE_IMAGE" "$TRAINER_IMAGE"; do
    size=$(podman image inspect --format '{{.Size}}' "$image")
    printf 'image size: %s %s bytes (%sB)\n' "$image" "$size" "$(numfmt --to=si "$size")"
done
echo "both images run as user 10001; the service image has a HEALTHCHECK"
# The service image has no TensorFlow, Keras, JAX or gymnasium; the trainer's has them (so
# the check can tell).
if podman run --rm --no-healthcheck "$SERVICE_IMAGE" python -c 'import tensorflow' >/dev/null 2>&1; then
    echo "python -c 'import tensorflow' succeeded in $SERVICE_IMAGE: the service image must not have TensorFlow" >&2
    exit 1
fi
find_heavy='import importlib.util as u; print(*(m for m in ("tensorflow", "keras", "jax", "gymnasium") if u.find_spec(m)))'
in_service=$(podman run --rm --no-healthcheck "$SERVICE_IMAGE" python -c "$find_heavy")
in_trainer=$(podman run --rm --entrypoint python "$TRAINER_IMAGE" -c "$find_heavy")
if [ -n "$in_service" ] || [[ " $in_trainer " != *" tensorflow "* ]]; then
    echo "the service image has [$in_service] (must be none); the trainer's [$in_trainer]" >&2
    exit 1
fi
echo "the service image cannot import tensorflow, keras, jax or gymnasium; the trainer image has $in_trainer"

cleanup() {
    local status=$?
    phase "clean-up"
    local kube_containers
    kube_containers=$(podman ps -a --filter "name=^$PROJECT-" --format '{{.Names}}')
    if [ "$status" != 0 ]; then
        echo "--- logs of the compose project and the replica (exit status $status)" >&2
        "${COMPOSE[@]}" logs >&2 2>&1 || true
        ! podman container exists "$REPLICA" || podman logs "$REPLICA" >&2 2>&1 || true
        for container in $kube_containers; do
            echo "--- logs of $container (kube play)" >&2
            podman logs --tail 40 "$container" >&2 2>&1 || true
        done
    fi
    podman rm -f -t 0 "$REPLICA" >/dev/null 2>&1 || true
    "${COMPOSE[@]}" down -v -t 2 >"$LOGS/down.log" 2>&1 || true
    podman pod ps -q --filter "name=^$PROJECT-" | xargs -r podman pod rm -f -t 0 >"$LOGS/kube-down.log" 2>&1 || true
    podman volume ls -q --filter "name=^$PROJECT-" | xargs -r podman volume rm -f >>"$LOGS/kube-down.log" 2>&1 || true
    rm -rf "$KUBE"
    for volume in "${PROJECT}_artifacts" $(podman volume ls -q --filter "name=^$PROJECT-"); do
        if podman volume exists "$volume"; then
            echo "clean-up left the volume $volume behind" >&2
            status=1
        fi
    done
    print_timings
    exit "$status"
}
trap cleanup EXIT
export POLICY_SERVICE_IMAGE="$SERVICE_IMAGE" POLICY_TRAINER_IMAGE="$TRAINER_IMAGE" POLICY_HOST_PORT="$PORT"
wait_for() {  # URL POLICY VERSION DEADLINE
    python3 .ci/wait_for_version.py "$@"
}
container_of() {  # SERVICE: the compose service's container, running or not
    podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1"
}

phase "compose up: the trainer job publishes version 1, then the service serves it"
logged up "${COMPOSE[@]}" up -d
# podman-compose waits for the trainer to stop but, unlike docker compose, starts the
# service even if the trainer failed, and the service's `--requires` starts the trainer
# once more (a no-op with --if-missing): wait for that run and check its exit status.
trainer=$(container_of trainer)
trainer_exit=$(podman wait "$trainer")
[ "$trainer_exit" = 0 ] || { echo "the trainer job exited with status $trainer_exit" >&2; exit 1; }
service=$(container_of service)
wait_for "http://127.0.0.1:$PORT" frozenlake-4x4 1 120
podman healthcheck run "$service"
echo "compose healthcheck (/readyz) of the service: healthy"
started_at=$(podman inspect --format '{{.State.StartedAt}}' "$service")
if podman exec "$service" touch /artifacts/written-by-service 2>/dev/null; then
    echo "the service could write to the artifacts volume; it must be mounted read-only" >&2
    exit 1
fi
test "$(podman exec "$service" id -u)" = 10001
echo "service runs as uid 10001 with the volume read-only"
# The compose file's limits reach the container: memory, pids, no capabilities, no new
# privileges, a sized tmpfs.
read -r memory pids < <(podman inspect --format '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}' "$service")
read -r tmp_type tmp_size < <(podman exec "$service" df -k --output=fstype,size /tmp | tail -n 1)
privileges=$(podman exec "$service" grep -E '^(CapEff|NoNewPrivs)' /proc/1/status | tr -s '\t' ' ' | paste -sd ' ')
if [ "$memory" = 0 ] || [ "$pids" = 0 ] || [ "$tmp_type" != tmpfs ] || [ "$tmp_size" -ge $((1024 * 1024)) ] \
    || [ "$privileges" != "CapEff: 0000000000000000 NoNewPrivs: 1" ]; then
    echo "the service's limits are missing: memory $memory, pids $pids, /tmp $tmp_type of $tmp_size KiB, $privileges" >&2
    exit 1
fi
echo "service limits: memory $(numfmt --to=iec "$memory")B, $pids pids, no capabilities, no new privileges, /tmp tmpfs of $((tmp_size / 1024)) MiB"

phase "a second replica on the same volume, from the image's defaults"
logged replica podman run -d --name "$REPLICA" -p "127.0.0.1:$REPLICA_PORT:8000" \
    -v "${PROJECT}_artifacts:/artifacts:ro" "$SERVICE_IMAGE"
wait_for "http://127.0.0.1:$REPLICA_PORT" frozenlake-4x4 1 120
podman healthcheck run "$REPLICA"
echo "image healthcheck (/healthz) of the replica: healthy"

phase "retrain: run --rm trainer publishes version 2"
logged retrain "${COMPOSE[@]}" run -T --rm trainer --map 4x4 --seed 1 --quiet
tail -n 1 "$LOGS/retrain.log"
wait_for "http://127.0.0.1:$PORT" frozenlake-4x4 2 120
wait_for "http://127.0.0.1:$REPLICA_PORT" frozenlake-4x4 2 120

phase "a new policy: run --rm trainer --map 8x8 --slippery (small budget)"
logged train-8x8 "${COMPOSE[@]}" run -T --rm trainer --map 8x8 --slippery --seed 0 --budget 4096 --quiet
tail -n 1 "$LOGS/train-8x8.log"
wait_for "http://127.0.0.1:$PORT" frozenlake-8x8-slippery 1 120

test "$(podman inspect --format '{{.State.StartedAt}}' "$service")" = "$started_at"
test "$(podman inspect --format '{{.RestartCount}}' "$service")" = 0
echo "the service container was never restarted"
podman stats --no-stream --format '{{.Name}}: {{.MemUsage}} of memory in use, serving 2 policies' "$service" "$REPLICA" || true

phase "kube play: the claim, the trainer Job's pod (version 1), the Deployment's replicas"
# podman kube play runs Pods, Deployments and PersistentVolumeClaims. The Service, the
# PodDisruptionBudget, the HorizontalPodAutoscaler and the CronJob are only validated
# (tests/deploy); kube_play.py render says what the copies it plays change, and why.
read -r kube_service_image kube_trainer_image kube_deployment kube_trainer kube_claim < <(
    "$TOOLS/venv/bin/python" .ci/kube_play.py render deploy/kubernetes "$KUBE" "$PROJECT")
podman tag "$SERVICE_IMAGE" "$kube_service_image"
podman tag "$TRAINER_IMAGE" "$kube_trainer_image"
logged kube-claim podman kube play "$KUBE/claim.yaml"
artifact_dir=$(podman volume inspect --format '{{.Mountpoint}}' "$kube_claim")
# One run of the Job: a fresh pod from its template, which must exit 0.
run_trainer_job="podman kube play --replace '$KUBE/trainer.yaml' >>'$LOGS/kube-trainer.log' 2>&1 \
    && test \"\$(podman wait $kube_trainer)\" = 0 && podman logs $kube_trainer 2>&1 | tail -n 1"
bash -c "$run_trainer_job"
logged kube-service podman kube play "$KUBE/service.yaml"
mapfile -t replicas < <(podman ps -a --filter "name=^$kube_deployment-pod-" --format '{{.Names}}' | sort)
if [ ${#replicas[@]} -lt 2 ]; then
    echo "podman kube play started ${#replicas[@]} replica(s) of the Deployment, not 2 or more" >&2
    exit 1
fi
python3 .ci/kube_play.py ready "${replicas[@]}"
replica=${replicas[0]}
test "$(podman exec "$replica" id -u)" = 10001
for path in /artifacts/written-by-service /written-by-service; do
    if podman exec "$replica" touch "$path" 2>/dev/null; then
        echo "$replica could write $path: the artifacts and the root must be read-only" >&2
        exit 1
    fi
done
test "$(podman exec "$replica" grep CapEff /proc/1/status)" = "$(printf 'CapEff:\t0000000000000000')"
echo "replicas run as uid 10001 with no capabilities, a read-only root and read-only artifacts"

phase "kube play: 4 clients for 30 s; the Job publishes version 2; a replica is killed"
python3 .ci/kube_play.py load "${replicas[@]/#/--replica=}" --kill "${replicas[-1]}" \
    --artifact-dir "$artifact_dir" --version 2 --publish "$run_trainer_job"
podman stats --no-stream --format '{{.Name}}: {{.MemUsage}} of memory in use after the load' "${replicas[@]}" || true
phase "done"
