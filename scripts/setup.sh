#!/usr/bin/env bash
# Creates .venv (if needed) and installs the project with the extras given as arguments.
# Re-installs only when pyproject.toml or the extras change, so repeated runs are quick.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python 3.11 or newer is needed as '$python' (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv; then
        echo "error: could not create a virtual environment; on Debian/Ubuntu: sudo apt-get install python3-venv" >&2
        exit 1
    fi
fi

extras=$(IFS=,; echo "$*")
stamp=".venv/.installed-$(cat pyproject.toml client/pyproject.toml | sha256sum | cut -c1-16)-${extras:-none}"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # The server's name before the rename: its entry points would shadow the new ones.
    if .venv/bin/python -m pip show --quiet lake-policy-server >/dev/null 2>&1; then
        .venv/bin/python -m pip uninstall --quiet --yes lake-policy-server
    fi
    # The client distribution first, from its folder: the server requires keras-policy-client,
    # which is on no index (pip finds it installed, so `-e .` below looks for nothing).
    .venv/bin/python -m pip install --quiet -e ./client
    .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
