"""Plain WSGI middleware: request metrics for every WSGI row."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from services.endpoints import HEALTH_PATH
from services.instrumentation.recording import InFlight, begin, end

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class _RecordOnClose:
    """Wraps the response iterable: the request ends when the server closes it."""

    def __init__(self, body: Iterable[bytes], request: InFlight, status: list[int]) -> None:
        self._body = body
        self._request = request
        self._status = status

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            end(self._request, self._status[0])


class WSGIMetricsMiddleware:
    def __init__(self, app: WSGIApplication, routes: frozenset[str]) -> None:
        self.app = app
        self.routes = routes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            return self.app(environ, start_response)
        request = begin(environ.get("REQUEST_METHOD", ""), path, self.routes)
        status = [500]  # what we record if the app raises before start_response

        def recording_start_response(
            status_line: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            status[0] = int(status_line[:3])
            return start_response(status_line, headers, exc_info)

        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            end(request, 500)
            raise
        return _RecordOnClose(body, request, status)
