"""Container health check: `python -m bench.stack.healthcheck [URL]`.

The slim Python image has no curl, so the Dockerfile and compose run this.
Standard library only: it runs every few seconds in every container.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 4.0


def health_url(argv: list[str], env: dict[str, str]) -> str:
    """The URL given, else the row's /health on 127.0.0.1:$BENCH_PORT."""
    if argv:
        return argv[0]
    port = env.get("BENCH_PORT")
    if not port:
        raise ValueError("BENCH_PORT is not set: pass the URL to check")
    return f"http://127.0.0.1:{port}/health"


def main(argv: list[str] | None = None) -> int:
    """0 when the URL answers 200, 1 otherwise (Docker's healthy/unhealthy)."""
    try:
        url = health_url(sys.argv[1:] if argv is None else argv, dict(os.environ))
        # A URL of the container itself; the noqa is for urlopen accepting file: URLs.
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310
            status = int(response.status)
    except (OSError, ValueError) as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
