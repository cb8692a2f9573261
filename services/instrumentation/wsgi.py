"""Plain WSGI middleware: request metrics for every WSGI row."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any

from services.endpoints import HEALTH_PATH, UNMATCHED_ROUTE
from services.instrumentation.recording import RECORDER, note_finished, note_started

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class _RecordedResponse:
    """One request's response: notes its status, and ends the request when the server closes it."""

    __slots__ = ("_body", "_method", "_route", "_server_start_response", "_started", "status")

    def __init__(self, method: str, route: str, server_start_response: StartResponse) -> None:
        self._method = method
        self._route = route
        self._server_start_response = server_start_response
        self._body: Iterable[bytes] = ()
        self.status = 500  # what we record if the app raises before start_response
        if not RECORDER.flushing:
            RECORDER.start_flushing()
        note_started(route)
        self._started = perf_counter()

    def start_response(
        self, status_line: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        self.status = int(status_line[:3])
        return self._server_start_response(status_line, headers, exc_info)

    def serve(self, body: Iterable[bytes]) -> _RecordedResponse:
        self._body = body
        return self

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self.end()

    def end(self) -> None:
        note_finished((self._method, self._route, self.status, perf_counter() - self._started))


class WSGIMetricsMiddleware:
    def __init__(self, app: WSGIApplication, route_labels: Mapping[str, str]) -> None:
        self.app = app
        self.route_labels = route_labels

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            return self.app(environ, start_response)
        response = _RecordedResponse(
            environ.get("REQUEST_METHOD", ""),
            self.route_labels.get(path, UNMATCHED_ROUTE),
            start_response,
        )
        try:
            return response.serve(self.app(environ, response.start_response))
        except BaseException:
            response.status = 500
            response.end()
            raise
