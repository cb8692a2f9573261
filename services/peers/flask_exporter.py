"""prometheus-flask-exporter under a pre-fork server, as its README says for gunicorn.

Every Flask row runs several processes' worth of prometheus-client files
(gunicorn, Granian: PROMETHEUS_MULTIPROC_DIR is set), so this is the library's
multiprocess class that serves /metrics on the app itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

from services.peers.base import PEER_METRICS_PATH, Peer

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from services.settings import RowSettings


class FlaskExporter(Peer):
    def instrument_wsgi(self, app: WSGIApplication, settings: RowSettings) -> WSGIApplication:
        if not isinstance(app, Flask):
            raise TypeError("prometheus-flask-exporter instruments a Flask app")
        GunicornInternalPrometheusMetrics(app, path=PEER_METRICS_PATH)
        return app


PEER = FlaskExporter()
