#!/usr/bin/env bash
# The main job: install, train the default policy if the artifact root has none, serve it.
# Environment: POLICY_ARTIFACT_ROOT (default ./artifacts), POLICY_PORT (default 8000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh server
export POLICY_ARTIFACT_ROOT=${POLICY_ARTIFACT_ROOT:-artifacts}

# Trains the default policy only if it has no version yet.
.venv/bin/python -m trainer --map 4x4 --seed 0 --artifact-root "$POLICY_ARTIFACT_ROOT" --if-missing
exec .venv/bin/python -m service --artifact-root "$POLICY_ARTIFACT_ROOT" --host 127.0.0.1 --port "${POLICY_PORT:-8000}" \
    --default-policy "${POLICY_DEFAULT_POLICY:-frozenlake-4x4}"
