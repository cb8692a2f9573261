"""`bench up` and `bench down` in docker mode: the whole compose stack, or nothing.

A bad knob stops `up` before anything starts, and a failed `docker compose
up` (a row that never turns healthy, a port taken) is brought down again, so
a failed `up` leaves nothing running. `up` records the stack before it starts
anything, so `down` stops even what an interrupted `up` left behind.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench.stack import docker
from bench.stack.grafana import PASSWORD_FILE_NAME, ensure_admin_password
from bench.stack.knobs import knob_values
from bench.stack.layout import StackError, check_row_knobs
from bench.stack.record import StackRecord, remove_record, write_record

# How much of each service's log a failed `up` prints before it cleans up.
FAILED_UP_LOG_LINES = 20
# The compose volume of the throwaway database (docker-compose.yml), removed
# by `down`: it holds only the seeded rows, re-made in seconds at the next `up`.
DATABASE_VOLUME = "postgres-data"


def compose_env(state_dir: Path) -> dict[str, str]:
    """What the compose file interpolates beyond .env: Grafana's password file."""
    return {"GRAFANA_ADMIN_PASSWORD_FILE": str(state_dir / PASSWORD_FILE_NAME)}


def docker_up(state_dir: Path) -> int:
    """Start the compose stack and wait until every service is healthy; 0 when it is."""
    knobs = knob_values()
    check_row_knobs(knobs)
    profiles = docker.profile_args(docker.active_profiles(knobs))
    leftovers = docker.project_containers()
    if leftovers:
        raise StackError(
            f"{len(leftovers)} container(s) of the compose project exist already "
            "(started by hand or from another state directory): `make down` stops them"
        )
    print("Docker engine reachable: starting the compose stack (docker compose up --build --wait).")
    password = ensure_admin_password(state_dir)
    env = compose_env(state_dir)
    write_record(state_dir, StackRecord("docker", 0, []))
    code = docker.compose(*profiles, "up", "--detach", "--build", "--wait", env=env)
    if code != 0:
        print(f"docker compose up failed (exit {code}); the services' last log lines:")
        docker.compose(*profiles, "logs", "--tail", str(FAILED_UP_LOG_LINES), env=env)
        stopped = stop_compose_stack(state_dir)
        raise StackError(
            f"`docker compose up` failed (exit {code}): see the messages above. "
            + (
                "Everything it had started is stopped and removed."
                if stopped
                else "Stopping what it had started failed too: run `make down`."
            )
        )
    print("The docker stack is up:")
    for label, url in docker.docker_urls():
        print(f"  {label:<17} {url}")
    print(password.notice())
    print("Stop it with `make down`.")
    return 0


def stop_compose_stack(state_dir: Path) -> bool:
    """Stop and remove the project's containers, their anonymous volumes, its network
    and the database's volume.

    The other named volumes (Prometheus's and Grafana's data) stay. True when
    it worked; the record goes only then, so that `bench down` can try again.
    """
    env = compose_env(state_dir)
    # `down` alone keeps the containers' anonymous volumes; `rm --volumes` removes them.
    # Every profile: whatever part of the lab this host ran, all of it stops.
    every = docker.profile_args()
    removed = docker.compose(*every, "rm", "--stop", "--force", "--volumes", env=env)
    down = docker.compose(*every, "down", "--remove-orphans", env=env)
    if removed != 0 or down != 0 or not remove_database_volume(env):
        return False
    remove_record(state_dir)
    return True


def remove_database_volume(env: dict[str, str]) -> bool:
    """Remove the database's named volume if it exists; False (said why) if that fails.

    `down --volumes` would take Prometheus's and Grafana's data too, so this
    one volume goes by the name compose gives it (project prefix included).
    """
    config = json.loads(
        docker.compose_output(*docker.profile_args(), "config", "--format", "json", env=env)
    )
    name = config.get("volumes", {}).get(DATABASE_VOLUME, {}).get("name")
    if not name:
        return True  # a compose file without the database: nothing to remove
    exists = subprocess.run(
        ["docker", "volume", "inspect", name], capture_output=True, timeout=60, check=False
    )
    if exists.returncode != 0:
        return True
    removed = subprocess.run(
        ["docker", "volume", "rm", name], capture_output=True, text=True, timeout=60, check=False
    )
    if removed.returncode != 0:
        print(f"could not remove the database volume {name}: {removed.stderr.strip()}")
        return False
    return True


def docker_down(state_dir: Path, recorded: bool) -> int:
    """`bench down` for a docker stack, recorded by `up` or found running."""
    if not stop_compose_stack(state_dir):
        raise StackError("docker compose could not stop the stack (see above); try again")
    if recorded:
        print("Stopped the docker stack.")
    else:
        print("Stopped the docker stack (its containers ran without a record of `bench up`).")
    return 0
