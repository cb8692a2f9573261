"""A throwaway PostgreSQL for the native stack and the tests (the Debian package's binaries).

``initdb`` into a run directory, listening on 127.0.0.1 only (no unix
socket), trust authentication for a ``bench`` superuser, then ``pg_ctl``
starts and stops it. PostgreSQL refuses to run as root, and CI runs as root:
as root, every PostgreSQL command runs as the ``postgres`` system user the
Debian package creates (BENCH_POSTGRES_USER), in a directory that user owns.
``seed`` creates the table every row queries (services/database/schema.py).

BENCH_DATABASE_URL replaces all of this with a database of the user's own.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.atomic import write_text_atomically
from bench.cores import on_cores
from bench.procs import LOOPBACK
from services.database.schema import COUNT_ROWS, CREATE_TABLE, ROW_COUNT, SEED_ROWS

URL_VARIABLE = "BENCH_DATABASE_URL"
USER_VARIABLE = "BENCH_POSTGRES_USER"
BIN_VARIABLE = "BENCH_POSTGRES_BIN"
DEBIAN_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "bench"
DATABASE = "bench"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
COMMAND_TIMEOUT_S = 120
# Enough for every row's pools at the matrix's largest worker counts. The
# cluster is disposable, so durability is traded for a fast seed and start.
SERVER_SETTINGS = {
    "listen_addresses": LOOPBACK,
    "unix_socket_directories": "",
    "max_connections": "400",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "log_min_messages": "warning",
}


class PostgresError(RuntimeError):
    """PostgreSQL could not be found, set up, started or stopped; the message says why."""


def find_bin_dir() -> Path:
    """Where initdb, pg_ctl and postgres are: BENCH_POSTGRES_BIN, PATH, or Debian's newest."""
    override = os.environ.get(BIN_VARIABLE, "").strip()
    if override:
        return Path(override)
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    # Debian keeps them out of PATH, one directory per major version.
    versions = sorted(
        (path for path in DEBIAN_ROOT.glob("*/bin") if (path / "initdb").is_file()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if not versions:
        raise PostgresError(
            "PostgreSQL not found (no initdb on PATH or in /usr/lib/postgresql/*/bin): "
            "`apt-get install postgresql` (Debian), set BENCH_POSTGRES_BIN, or point "
            "BENCH_DATABASE_URL at a database of your own"
        )
    return versions[-1]


@dataclass(frozen=True)
class RunAs:
    """Who runs PostgreSQL: this process's user, or (as root) an unprivileged one."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_this_process(cls) -> RunAs:
        if os.geteuid() != 0:
            return cls()
        name = os.environ.get(USER_VARIABLE, "").strip() or "postgres"
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise PostgresError(
                f"running as root, and PostgreSQL refuses root: there is no user {name!r} "
                f"to run it as (Debian's postgresql package creates 'postgres'; or set "
                f"{USER_VARIABLE})"
            ) from None
        return cls(entry.pw_uid, entry.pw_gid)

    def own(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)

    def run(self, argv: list[str], log: Path, *, check: bool = True) -> int:
        """Run ``argv`` as this user; PostgresError with its output if it fails (``check``)."""
        result = subprocess.run(
            argv,
            user=self.uid,
            group=self.gid,
            extra_groups=[] if self.uid is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            cwd="/",  # the caller's directory may be closed to that user
        )
        with log.open("ab") as file:
            file.write(result.stdout)
        if check and result.returncode != 0:
            output = result.stdout.decode(errors="replace").strip()
            raise PostgresError(f"{Path(argv[0]).name} failed ({result.returncode}): {output}")
        return result.returncode


def _reachable(path: Path, run_as: RunAs) -> bool:
    """Whether ``run_as`` can get to ``path`` (search permission on every ancestor)."""
    if run_as.uid is None:
        return True
    for directory in [path, *path.parents]:
        if not directory.exists():
            continue
        info = directory.stat()
        if info.st_uid == run_as.uid:
            allowed = info.st_mode & 0o100
        elif info.st_gid == run_as.gid:
            allowed = info.st_mode & 0o010
        else:
            allowed = info.st_mode & 0o001
        if not allowed:
            return False
    return True


@dataclass(frozen=True)
class Cluster:
    """One PostgreSQL data directory, its port and the commands that drive it."""

    base: Path  # owned by the user that runs PostgreSQL: data/, postgres.log, commands.log
    port: int
    bin_dir: Path
    run_as: RunAs

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        """The server's own log (written by the PostgreSQL user)."""
        return self.base / "postgres.log"

    @property
    def commands_log(self) -> Path:
        """What initdb and pg_ctl printed (written by this process)."""
        return self.base / "commands.log"

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@{LOOPBACK}:{self.port}/{DATABASE}"

    def _pg(self, tool: str, *args: str, check: bool = True) -> int:
        return self.run_as.run([str(self.bin_dir / tool), *args], self.commands_log, check=check)

    def initialise(self) -> None:
        """initdb once; the settings are rewritten every time (the port may change)."""
        if not (self.data_dir / "PG_VERSION").is_file():
            self._pg(
                "initdb", "--pgdata", str(self.data_dir), "--username", SUPERUSER,
                "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync",
            )  # fmt: skip
        settings = {**SERVER_SETTINGS, "port": str(self.port)}
        lines = [f"{key} = '{value}'" for key, value in settings.items()]
        conf = self.data_dir / "bench.conf"
        write_text_atomically(
            conf, "# Written by bench/postgres.py on every start.\n" + "\n".join(lines)
        )
        self.run_as.own(conf)
        main = self.data_dir / "postgresql.conf"
        include = "include 'bench.conf'"
        if include not in main.read_text():
            with main.open("a") as file:
                file.write(f"\n{include}\n")

    def start(self) -> None:
        self._pg(
            "pg_ctl", "start", "--pgdata", str(self.data_dir), "--log", str(self.log),
            "--wait", "--timeout", str(START_TIMEOUT_S), "--silent",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server if it runs (``fast``: roll back sessions; ``immediate``: abort)."""
        if not self.is_running():
            return
        try:
            self._pg(
                "pg_ctl", "stop", "--pgdata", str(self.data_dir), "--mode", mode,
                "--wait", "--timeout", str(STOP_TIMEOUT_S), "--silent",
            )  # fmt: skip
        except PostgresError:
            if mode == "immediate" or not self.is_running():
                raise
            self.stop("immediate")

    def pid(self) -> int | None:
        """The postmaster's pid while the server runs (its backends are its children)."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def is_running(self) -> bool:
        """Whether a server runs on this data directory (pg_ctl status; a stale pid file is not)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        return self._pg("pg_ctl", "status", "--pgdata", str(self.data_dir), check=False) == 0

    def create_database(self) -> None:
        admin = f"postgresql://{SUPERUSER}@{LOOPBACK}:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]
            ).fetchone()
            if exists is None:
                connection.execute(f"CREATE DATABASE {DATABASE}")


def seed(url: str) -> None:
    """Create the rows' table in the database at ``url`` and fill it (idempotent)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
        connection.execute(CREATE_TABLE)
        row = connection.execute(COUNT_ROWS).fetchone()
        if row is None or row[0] < ROW_COUNT:
            connection.execute(SEED_ROWS)
            connection.execute("ANALYZE bench_items")


def cluster_base(run_dir: Path, run_as: RunAs) -> Path:
    """Where the cluster of ``run_dir`` lives: ``run_dir``/postgres or, where the
    PostgreSQL user cannot reach ``run_dir`` (pytest's 0700 directories, owned by
    root), a directory of /tmp named after it, so that stopping finds the same one."""
    run_dir = run_dir.resolve()
    if _reachable(run_dir, run_as):
        return run_dir / "postgres"
    digest = hashlib.sha256(str(run_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"sab-postgres-{digest}"


def cluster_in(run_dir: Path, port: int) -> Cluster:
    """The cluster of ``run_dir`` (its directory created, owned by the PostgreSQL user)."""
    run_as = RunAs.for_this_process()
    run_dir.mkdir(parents=True, exist_ok=True)
    base = cluster_base(run_dir, run_as)
    base.mkdir(mode=0o700, exist_ok=True)
    run_as.own(base)
    return Cluster(base, port, find_bin_dir(), run_as)


def existing_cluster(run_dir: Path) -> Cluster | None:
    """The cluster of ``run_dir`` if one was ever initialised there (creates nothing)."""
    try:
        run_as = RunAs.for_this_process()
        base = cluster_base(run_dir, run_as)
        if not (base / "data").is_dir():
            return None
        return Cluster(base, 0, find_bin_dir(), run_as)  # no port needed to stop it
    except PostgresError:
        return None


def discard_if_outside(cluster: Cluster, run_dir: Path) -> None:
    """Remove a stopped cluster that lives in /tmp rather than in ``run_dir``: its run
    directory is going away with nothing to point at it (a test's), and a cluster
    is re-created and seeded in about a second."""
    if cluster.base.parent != run_dir.resolve():
        shutil.rmtree(cluster.base, ignore_errors=True)


def start_cluster(cluster: Cluster) -> str:
    """initdb if needed, start, create the database and seed it; its URL."""
    cluster.initialise()
    cluster.start()
    try:
        cluster.create_database()
        seed(cluster.url)
    except BaseException:
        cluster.stop()
        raise
    return cluster.url


@contextmanager
def running_postgres(run_dir: Path, port: int) -> Iterator[Cluster]:
    """A seeded throwaway PostgreSQL on 127.0.0.1:``port`` for the block; always stopped."""
    cluster = cluster_in(run_dir, port)
    try:
        start_cluster(cluster)
        yield cluster
    finally:
        cluster.stop()
        discard_if_outside(cluster, run_dir)


@dataclass(frozen=True)
class RunDatabase:
    """The database of a run: where it is, and its server's pid when it is ours."""

    url: str
    pid: int | None  # None: the user's own (BENCH_DATABASE_URL), its CPU not ours to count


@contextmanager
def database_for_run(
    directory: Path, port: int, cpus: frozenset[int] | None = None
) -> Iterator[RunDatabase]:
    """The database a run's rows use, for the block.

    BENCH_DATABASE_URL (seeded) when set; else a throwaway cluster in
    ``directory`` on ``port``, started on ``cpus``, stopped and its data
    (tens of MB, not a result) removed after the block.
    """
    own = os.environ.get(URL_VARIABLE, "").strip()
    if own:
        seed(own)
        yield RunDatabase(own, None)
        return
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, directory, ignore_errors=True)
        with on_cores(cpus):
            cluster = stack.enter_context(running_postgres(directory, port))
        yield RunDatabase(cluster.url, cluster.pid())
