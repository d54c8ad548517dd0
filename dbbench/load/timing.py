"""``Server-Timing`` for the quiz site, a load-test instrument in its ``MIDDLEWARE``: each response says how long its
SQL took and how long the whole request took inside Django (``Server-Timing: db;dur=2.140, app;dur=6.870``, in
milliseconds: the header browsers' developer tools show), so a load test can tell time spent in the database from
time spent in the app server.

SQL time is the time inside ``cursor.execute`` for every statement on the site's connection (Django's
``connection.execute_wrapper``): the round trip and the server's work, and the rows for a client-side cursor
(psycopg and mysqlclient both fetch the whole result in ``execute``). Opening the connection (CONN_MAX_AGE=0) is
not a statement and counts as app time. ``DBBENCH_SERVER_TIMING=0`` takes the middleware out (``dbbench load
--measure off``), so what the measuring costs can be measured.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from django.core.exceptions import MiddlewareNotUsed
from django.db import connections
from django.http import HttpRequest, HttpResponse

from dbbench.load.shapes import ENV_SHAPES_DIR, ShapeRecorder

ENV_SERVER_TIMING = "DBBENCH_SERVER_TIMING"


def enabled() -> bool:
    return os.environ.get(ENV_SERVER_TIMING, "1") != "0"


class SqlTimer:
    """An execute wrapper that adds up the time of every statement it sees (and gives each to ``shapes``)."""

    def __init__(self, shapes: ShapeRecorder | None = None) -> None:
        self.seconds = 0.0
        self.statements = 0
        self.shapes = shapes

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - started
            self.seconds += took
            self.statements += 1
            if self.shapes is not None:
                self.shapes.add(sql, 1000.0 * took)


class ServerTimingMiddleware:
    """Times the request and its SQL; first in MIDDLEWARE, so ``app`` covers all of Django's own work."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not enabled():
            raise MiddlewareNotUsed  # Django leaves it out: no cost at all
        self.get_response = get_response
        directory = os.environ.get(ENV_SHAPES_DIR)
        # Histograms per SQL shape (load/shapes.py), when the load test asks for them.
        self.shapes = ShapeRecorder(directory) if directory else None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from dbbench.quiz.views import site_db

        timer = SqlTimer(self.shapes)
        started = time.perf_counter()
        with connections[site_db()].execute_wrapper(timer):
            response = self.get_response(request)
        app_ms = 1000.0 * (time.perf_counter() - started)
        response["Server-Timing"] = f"db;dur={1000.0 * timer.seconds:.3f}, app;dur={app_ms:.3f}"
        if self.shapes is not None:
            self.shapes.maybe_flush()
        return response
