"""Results are never half-written, and a run that could not keep them never starts.

bench/atomic.py writes every file through a temporary and a rename; these
tests crash a writer for real (SIGKILL mid-write), check that bench/ has no
other way of writing files, and that `bench loadtest` / `bench matrix` refuse
an unwritable or full results directory before sending any request.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.atomic import (
    UnwritableDirectoryError,
    ensure_writable_directory,
    replacing,
    write_json_atomically,
    write_text_atomically,
)
from bench.loadtest.runner import K6_SUMMARY_FILE, SUMMARY_FILE, publish_summary
from bench.paths import REPO_ROOT

CLI_TIMEOUT_S = 60
# Ways of writing a file that bypass the rename (streams such as logs are opened
# with open(); a savefig must target the temporary that `replacing` gives).
DIRECT_WRITES = re.compile(r"\.write_text\(|\.write_bytes\(|json\.dump\(|savefig\((?!temporary)")


def _leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if ".tmp" in path.name)


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_json_atomically(path, {"steps": [1, 2]})
    write_json_atomically(path, {"steps": [1, 2, 3]})
    assert json.loads(path.read_text()) == {"steps": [1, 2, 3]}
    assert path.read_text().endswith("\n")
    assert _leftovers(tmp_path) == []


def test_a_failing_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    write_text_atomically(path, "old report\n")

    def render_half_then_fail() -> None:
        with replacing(path) as temporary:
            temporary.write_text("half a rep")
            raise RuntimeError("rendering failed")

    with pytest.raises(RuntimeError, match="rendering failed"):
        render_half_then_fail()
    assert path.read_text() == "old report\n"
    with pytest.raises(TypeError):
        write_json_atomically(path, {"not json": object()})
    assert path.read_text() == "old report\n"
    assert _leftovers(tmp_path) == []


def test_a_rewritten_file_keeps_its_mode_and_a_new_one_gets_the_umasks(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("written the ordinary way")
    fresh = tmp_path / "fresh.txt"
    write_text_atomically(fresh, "new")
    assert stat.S_IMODE(fresh.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    fresh.chmod(0o640)
    write_text_atomically(fresh, "again")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640


CRASHING_WRITER = """
import sys, time
from pathlib import Path
from bench.atomic import replacing
with replacing(Path(sys.argv[1])) as temporary, temporary.open("w") as out:
    out.write('{"steps": [')
    out.flush()
    print("writing", flush=True)
    time.sleep(60)  # killed here, half-way through the file
    out.write("]}")
"""


def test_a_writer_killed_mid_write_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_json_atomically(path, {"steps": ["finished"]})
    with subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    ) as writer:
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "writing"
        finally:
            writer.send_signal(signal.SIGKILL)  # also if the test fails: never left running
            writer.wait(timeout=10)
    assert writer.returncode == -signal.SIGKILL
    assert json.loads(path.read_text()) == {"steps": ["finished"]}


def test_k6s_summary_is_published_only_when_whole(tmp_path: Path) -> None:
    (tmp_path / K6_SUMMARY_FILE).write_text('{"metrics": {"http_reqs": ')
    assert publish_summary(tmp_path) == {}
    assert not (tmp_path / SUMMARY_FILE).exists()
    (tmp_path / K6_SUMMARY_FILE).write_text('{"metrics": {}}')
    assert publish_summary(tmp_path) == {"metrics": {}}
    assert json.loads((tmp_path / SUMMARY_FILE).read_text()) == {"metrics": {}}
    assert not (tmp_path / K6_SUMMARY_FILE).exists()
    assert publish_summary(tmp_path / "k6-never-ran") == {}


def test_the_harness_writes_files_only_through_the_helper() -> None:
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in sorted((REPO_ROOT / "bench").rglob("*.py"))
        if path.name != "atomic.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if DIRECT_WRITES.search(line)
    ]
    assert offenders == []


# --- a results directory that cannot take the results --------------------------


def _unwritable_dirs(tmp_path: Path) -> list[Path]:
    """Directories no user (root included) can create or write into."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    return [blocker / "results", Path("/proc/sab-results")]


def test_an_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    for directory in _unwritable_dirs(tmp_path):
        with pytest.raises(UnwritableDirectoryError, match=f"cannot write results to {directory}"):
            ensure_writable_directory(directory)


def test_a_full_directory_is_a_clear_error(tmp_path: Path) -> None:
    more_than_the_disk = os.statvfs(tmp_path).f_blocks * os.statvfs(tmp_path).f_frsize + 1
    with pytest.raises(UnwritableDirectoryError, match=r"has only \d+ MiB free"):
        ensure_writable_directory(tmp_path, min_free_bytes=more_than_the_disk)
    ensure_writable_directory(tmp_path / "new" / "results")  # created, writable, enough room
    assert list((tmp_path / "new" / "results").iterdir()) == []


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def counting_server() -> Iterator[tuple[str, type[_CountingHandler]]]:
    """A row stand-in that answers /health and counts every request it gets."""
    handler = type("Counting", (_CountingHandler,), {"hits": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _bench(*args: str, results_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        env={**os.environ, "BENCH_RESULTS_DIR": str(results_dir)},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
        cwd=REPO_ROOT,
    )


@pytest.mark.live
def test_loadtest_refuses_an_unwritable_results_dir_before_any_request(
    tmp_path: Path, counting_server: tuple[str, type[_CountingHandler]]
) -> None:
    url, handler = counting_server
    for directory in _unwritable_dirs(tmp_path):
        result = _bench(
            "loadtest", "--target", "fastapi-async", "--url", url, "--endpoint", "/io?ms=1",
            results_dir=directory,
        )  # fmt: skip
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"bench loadtest: cannot write results to {directory}" in result.stderr
        assert "Traceback" not in result.stderr
    assert handler.hits == 0


@pytest.mark.live
def test_matrix_refuses_an_unwritable_results_dir_before_anything_starts(tmp_path: Path) -> None:
    directory = _unwritable_dirs(tmp_path)[0]
    result = _bench("matrix", "--profile", "quick", "--rows", "flask-sync", results_dir=directory)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"bench matrix: cannot write results to {directory}" in result.stderr
    assert "Traceback" not in result.stderr
