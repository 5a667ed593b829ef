#!/usr/bin/env bash
# The test command: installs what the tests need, then runs the whole suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/trainer -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh server test
exec .venv/bin/python -m pytest "$@"
