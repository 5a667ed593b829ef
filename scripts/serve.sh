#!/usr/bin/env bash
# The main job: install, train the default policy if the artifact root has none, serve it.
# Environment: LAKE_ARTIFACT_ROOT (default ./artifacts), LAKE_PORT (default 8000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LAKE_ARTIFACT_ROOT=${LAKE_ARTIFACT_ROOT:-artifacts}

has_policy=$(.venv/bin/python -c '
import os, sys
from policy_artifacts import list_policies, list_versions
root = os.environ["LAKE_ARTIFACT_ROOT"]
print(any(list_versions(root, p) for p in list_policies(root)))')
if [ "$has_policy" != "True" ]; then
    echo "No policy under $LAKE_ARTIFACT_ROOT yet: training the default (frozenlake-4x4)..."
    .venv/bin/python -m trainer --map 4x4 --seed 0 --artifact-root "$LAKE_ARTIFACT_ROOT"
fi
exec .venv/bin/python -m service --artifact-root "$LAKE_ARTIFACT_ROOT" --host 127.0.0.1 --port "${LAKE_PORT:-8000}"
