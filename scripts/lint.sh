#!/usr/bin/env bash
# Every static check the project has. Usage: scripts/lint.sh [VENV]
set -euo pipefail
venv="${1:-.venv}"
cd "$(dirname "$0")/.."
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/mypy"
"$venv/bin/hadolint" Dockerfile
"$venv/bin/docker-compose" --env-file .env -f docker-compose.yml config --quiet
