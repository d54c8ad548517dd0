"""Before each view: wait in the database or spin in Python, as ``DBBENCH_SCRATCH`` says (``sql:0.2``,
``spin:0.05``; anything else does nothing)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from django.db import connections
from django.http import HttpRequest, HttpResponse

from dbbench.quiz.views import site_db

# The one statement that differs: each server's own sleep function (a test fixture, not stage code).
SLEEP_SQL = {"postgresql": "SELECT pg_sleep(%s)", "mysql": "SELECT SLEEP(%s)"}


def wait_in_sql(seconds: float) -> None:
    connection = connections[site_db()]
    with connection.cursor() as cursor:
        cursor.execute(SLEEP_SQL[connection.vendor], [seconds])
        cursor.fetchall()


def spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class SlowDown:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        mode, _, amount = os.environ.get("DBBENCH_SCRATCH", "").partition(":")
        if request.path != "/health/" and amount:
            (wait_in_sql if mode == "sql" else spin)(float(amount))
        return self.get_response(request)
