"""`bench up` and `bench down` in docker mode: the whole compose stack, or nothing.

A bad knob stops `up` before anything starts, and a failed `docker compose
up` (a row that never turns healthy, a port taken) is brought down again, so
a failed `up` leaves nothing running. `up` records the stack before it starts
anything, so `down` stops even what an interrupted `up` left behind.
"""

from __future__ import annotations

from pathlib import Path

from bench.stack import docker
from bench.stack.grafana import PASSWORD_FILE_NAME, ensure_admin_password
from bench.stack.knobs import knob_values
from bench.stack.layout import StackError, check_row_knobs
from bench.stack.record import StackRecord, remove_record, write_record

# How much of each service's log a failed `up` prints before it cleans up.
FAILED_UP_LOG_LINES = 20


def compose_env(state_dir: Path) -> dict[str, str]:
    """What the compose file interpolates beyond .env: Grafana's password file."""
    return {"GRAFANA_ADMIN_PASSWORD_FILE": str(state_dir / PASSWORD_FILE_NAME)}


def docker_up(state_dir: Path) -> int:
    """Start the compose stack and wait until every service is healthy; 0 when it is."""
    check_row_knobs(knob_values())
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
    code = docker.compose("up", "--detach", "--build", "--wait", env=env)
    if code != 0:
        print(f"docker compose up failed (exit {code}); the services' last log lines:")
        docker.compose("logs", "--tail", str(FAILED_UP_LOG_LINES), env=env)
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
    """Stop and remove the project's containers, their anonymous volumes and its network.

    Named volumes (Prometheus's and Grafana's data) stay. True when it worked;
    the record goes only then, so that `bench down` can try again.
    """
    env = compose_env(state_dir)
    # `down` alone keeps the containers' anonymous volumes; `rm --volumes` removes them.
    removed = docker.compose("rm", "--stop", "--force", "--volumes", env=env)
    down = docker.compose("down", "--remove-orphans", env=env)
    if removed != 0 or down != 0:
        return False
    remove_record(state_dir)
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
