#!/usr/bin/env bash
# Regenerate the hash-locked dependency tree from pyproject.toml's pins:
#   requirements/bootstrap.txt pip and the build backend (from bootstrap.in)
#   requirements/runtime.txt  what the Docker image and the rows need
#   requirements/dev.txt      runtime + tests, lint and this tool (make install)
# pip-compile resolves through pip's own finder with pip's configuration, so
# every file pip could pick for a pinned version (PyPI and any local index
# or find-links pip.conf adds) gets its hash. dev.txt is constrained by
# bootstrap.txt and runtime.txt: shared packages get one version everywhere.
# Usage: scripts/lock.sh [VENV]   (make lock; needs `make install` first)
set -euo pipefail
venv="${1:-.venv}"
cd "$(dirname "$0")/.."
compile="$venv/bin/pip-compile"
[[ -x "$compile" ]] || { echo "lock.sh: no $compile: run \`make install\` first" >&2; exit 1; }
export CUSTOM_COMPILE_COMMAND="make lock"
common=(--quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url
    --no-emit-find-links --no-emit-trusted-host --newline LF --upgrade)
"$compile" "${common[@]}" --output-file requirements/bootstrap.txt requirements/bootstrap.in
"$compile" "${common[@]}" --output-file requirements/runtime.txt pyproject.toml
# pip refuses hashes in a constraints file: constrain by the bare pins.
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
grep -hE '^[A-Za-z0-9]' requirements/bootstrap.txt requirements/runtime.txt \
    | sed 's/ \\$//' >"$constraints"
"$compile" "${common[@]}" --extra dev --constraint "$constraints" \
    --output-file requirements/dev.txt pyproject.toml
echo "locked: requirements/bootstrap.txt runtime.txt dev.txt"
