#!/usr/bin/env bash
# Builds the image and runs docker-compose.yml for real with Podman (no Docker engine or
# registry on CI machines; see ../shared/CONTAINERS.md): the trainer publishes version 1,
# the service answers from the shared volume, a second trainer run publishes version 2
# and the running service answers with it, without a restart.
# Only a machine where Podman cannot be installed or started skips this, loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${LAKE_CI_TOOLS:-/var/tmp/lake-ci}
BASE=localhost/debian-python:bookworm
IMAGE=localhost/lake-policy-server:ci
PROJECT=lakeci$$
PORT=${LAKE_CI_PORT:-18765}
started=$(date +%s)
phase() { echo "=== [$(( $(date +%s) - started ))s] $*"; }
skip() {
    echo "################################################################"
    echo "# SKIPPED: container test: $*"
    echo "################################################################"
    exit 0
}

phase "podman set-up"
if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
    if [ "$(id -u)" != 0 ]; then skip "podman is not installed and this user cannot install it"; fi
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        podman runc debootstrap >/dev/null || skip "apt-get could not install podman"
fi
if [ "$(id -u)" = 0 ] && [ ! -f /etc/containers/containers.conf.lake-ci ]; then
    # crun fails here ("cgroups in hybrid mode"), and default ulimits above the hard limit fail every container.
    mkdir -p /etc/containers
    cat > /etc/containers/containers.conf <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$(cat /proc/sys/kernel/pid_max):$(cat /proc/sys/kernel/pid_max)"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
    touch /etc/containers/containers.conf.lake-ci
fi
podman info >/dev/null 2>&1 || skip "podman is installed but cannot start: $(podman info 2>&1 | tail -1)"
mkdir -p "$TOOLS"
if [ ! -x "$TOOLS/venv/bin/podman-compose" ]; then
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install -q "podman-compose>=1.2,<2"
fi
COMPOSE=("$TOOLS/venv/bin/podman-compose" -p "$PROJECT" -f docker-compose.yml)

phase "base image"
if ! podman image exists "$BASE"; then
    rootfs="$TOOLS/rootfs"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$rootfs" >/dev/null
    # The build runs behind this machine's intercepting proxy: trust what the host trusts.
    # Copied at run time only; never committed.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >/dev/null
    fi
    tar -C "$rootfs" -c . | podman import - "$BASE" >/dev/null
    rm -rf "$rootfs"
fi

phase "wheelhouse (so the build needs no network)"
python3 - > "$TOOLS/requirements.txt" <<'PY'
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
PY
python3 -m pip wheel -q --wheel-dir wheelhouse -r "$TOOLS/requirements.txt"

phase "build"
podman build -q --build-arg BASE_IMAGE="$BASE" --build-arg PIP_NO_INDEX=1 -t "$IMAGE" . >/dev/null
test "$(podman run --rm --entrypoint id "$IMAGE" -u)" = 10001

cleanup() {
    phase "clean-up"
    "${COMPOSE[@]}" down -v -t 2 >/dev/null 2>&1 || true
}
trap cleanup EXIT
export LAKE_IMAGE="$IMAGE" LAKE_HOST_PORT="$PORT"

act_version() {
    python3 -c '
import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1], data=b"{\"observation\": 0, \"mode\": \"greedy\"}",
                                 headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request, timeout=2))["version"])' "http://127.0.0.1:$PORT/act" 2>/dev/null
}
wait_for_version() {
    for _ in $(seq 1 "$2"); do
        [ "$(act_version || true)" = "$1" ] && return 0
        sleep 1
    done
    echo "service did not answer with version $1; logs:" >&2
    "${COMPOSE[@]}" logs >&2 || true
    return 1
}

phase "compose up: trainer job, then service"
"${COMPOSE[@]}" up -d >/dev/null
wait_for_version 1 180
echo "service answered /act with version 1 from the shared volume"

phase "retrain through the trainer container"
"${COMPOSE[@]}" run --rm trainer --map 4x4 --seed 1 --quiet
wait_for_version 2 30
echo "service answered /act with version 2 without a restart"
test "$("${COMPOSE[@]}" exec -T service id -u)" = 10001

phase "done"
