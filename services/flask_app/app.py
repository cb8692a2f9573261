"""The Flask rows' endpoints: plain sync code, whatever the gunicorn worker class.

Under the gevent worker, gunicorn monkey-patches the standard library, so the
same ``time.sleep`` yields to other green threads: that is the lesson of the
flask-gevent row, not a difference in this code.
"""

from __future__ import annotations

import time

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from services.database.accounting import PoolAccounting
from services.database.errors import DatabaseError
from services.database.schema import item_answer
from services.database.schema import slept_body as db_slept_body
from services.database.sync_pool import SyncDatabase
from services.downstream import DownstreamError, SyncDownstream
from services.endpoints import ENDPOINTS_BY_PATH
from services.settings import RowSettings
from services.workload import (
    HEALTH_BODY,
    BadRequest,
    cpu_body,
    cpu_work,
    hello_body,
    method_not_allowed_body,
    not_found_body,
    parse_params,
    slept_body,
)


def _params(path: str) -> dict[str, int]:
    return parse_params(ENDPOINTS_BY_PATH[path], request.query_string.decode("latin-1"))


def create_app(settings: RowSettings) -> Flask:
    app = Flask(__name__)
    downstream = SyncDownstream(settings.latency_url)
    database = SyncDatabase(settings.database, PoolAccounting(enabled=settings.instrumented))
    app.extensions["bench_database"] = database  # closed by whoever ends the app (tests)

    @app.get("/health")
    def health() -> Response:
        return jsonify(HEALTH_BODY)

    @app.get("/hello")
    def hello() -> Response:
        _params("/hello")
        return jsonify(hello_body(settings))

    @app.get("/io")
    def io() -> Response:
        ms = _params("/io")["ms"]
        time.sleep(ms / 1000)
        return jsonify(slept_body(ms, "time.sleep"))

    @app.get("/sync")
    def sync() -> Response:
        ms = _params("/sync")["ms"]
        time.sleep(ms / 1000)
        return jsonify(slept_body(ms, "time.sleep"))

    @app.get("/cpu")
    def cpu() -> Response:
        n = _params("/cpu")["n"]
        return jsonify(cpu_body(n, cpu_work(n)))

    @app.get("/downstream")
    def downstream_call() -> Response:
        ms = _params("/downstream")["ms"]
        return jsonify(downstream.call(ms))

    @app.get("/db/sleep")
    def db_sleep() -> Response:
        ms = _params("/db/sleep")["ms"]
        database.sleep(ms)
        return jsonify(db_slept_body(ms, database.driver))

    @app.get("/db/query")
    def db_query() -> Response:
        _params("/db/query")
        return jsonify(item_answer(database.query(), database.driver))

    @app.errorhandler(BadRequest)
    def bad_request(error: BadRequest) -> tuple[Response, int]:
        return jsonify(error.body()), 400

    @app.errorhandler(DownstreamError)
    def downstream_failed(error: DownstreamError) -> tuple[Response, int]:
        return jsonify(error.body()), error.status

    @app.errorhandler(DatabaseError)
    def database_failed(error: DatabaseError) -> tuple[Response, int]:
        return jsonify(error.body()), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        if status == 404:
            return jsonify(not_found_body(request.path)), 404
        if isinstance(error, MethodNotAllowed):
            answer = jsonify(method_not_allowed_body(request.method, request.path))
            # RFC 9110: a 405 names the methods the resource takes.
            answer.headers["Allow"] = ", ".join(error.valid_methods or ())
            return answer, 405
        return jsonify({"error": error.description}), status

    return app
