# One image for every row of the matrix and for the latency service. The
# container command says what it serves, `sab-serve ROW`, exactly the command
# the native stack runs, so both modes exercise the same code and settings.

# The Python base of both stages. The official image by default; a registry
# mirror or a local stand-in (scripts/build-standin-images.sh) works as well,
# as long as `python` on PATH is CPython 3.11 with the venv module: the stages
# only call `python`, never a path such as /usr/local/bin/python.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# --- builder: the pinned dependencies and the project, in a venv ------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# pip and the build backend, then the runtime tree: all from the hash-locked
# files (`make lock`), so the image runs exactly the versions the tests ran.
COPY requirements/bootstrap.txt requirements/runtime.txt ./requirements/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --requirement requirements/bootstrap.txt \
    && /opt/venv/bin/pip install --require-hashes --no-deps --requirement requirements/runtime.txt

# The project on its own layer, so an edit to the source does not reinstall
# the dependencies. --no-deps: the lock has them; --no-build-isolation: built
# with the locked setuptools.
COPY pyproject.toml README.md ./
COPY services ./services
COPY bench ./bench
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . \
    && /opt/venv/bin/pip check

# --- final: the venv only, no build tools, no source tree, not root ----------
# The same base as the builder: the venv's python is a link to the base's own.
FROM ${PYTHON_IMAGE}

RUN groupadd --system --gid 10001 bench \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin bench

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BENCH_HOST=0.0.0.0

WORKDIR /tmp
USER 10001:10001

# Rows from 8001 up (services/rows.py; metrics on port + 1000), latency
# service 8099. One generous range, so a new row needs no edit here
# (tests/test_registry.py checks every row's ports are inside it).
EXPOSE 8001-8049 9001-9049 8099

# The slim image has no curl: the check is a few lines of standard-library
# Python. It asks http://127.0.0.1:$BENCH_PORT/health, or the URL it is given.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "bench.stack.healthcheck"]

# Say which row to serve, e.g. `sab-serve flask-sync` (compose does, per service).
CMD ["sab-serve", "--help"]
