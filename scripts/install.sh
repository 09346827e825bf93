#!/usr/bin/env bash
# Create the virtual environment and install the project with pinned dependencies.
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -c requirements.lock -e '.[dev]'
echo "installed into $venv"
