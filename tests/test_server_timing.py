"""Server-Timing (dbbench/load/timing.py): the SQL time the quiz site reports agrees with the time Django's own
query log gives for the same requests, on every backend; Locust's side parses and merges it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dbbench.load import stats as loadstats
from tests.helpers import ALL_DATABASES, FIXTURES
from tests.scratchsite.middleware import SLEEP_SQL

SUBMISSION = {
    "student": 3,
    "answers": {f"q{i}": {"choice": 1, "time_ms": 1500, "changed": False} for i in (1, 2, 3)},
    "meta": {"device": "mobile", "browser": {"name": "Firefox", "version": "131.0"}},
}


@pytest.fixture
def site(alias: str, settings: Any) -> Client:
    settings.DBBENCH_SITE_DB = alias
    call_command("loaddata", str(FIXTURES / "quiz_small.json"), database=alias, verbosity=0)
    return Client()


def _requests(site: Client) -> Iterator[Any]:
    """One request of each kind the load test makes, one at a time (each checked before the next)."""
    yield site.get("/quizzes/")
    yield site.get("/quizzes/1/")
    yield site.post("/quizzes/1/attempts/", data=json.dumps(SUBMISSION), content_type="application/json")
    yield site.get("/students/3/attempts/")
    yield site.get("/quizzes/1/leaderboard/")


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_server_timing_agrees_with_djangos_query_log(site: Client, alias: str) -> None:
    for _ in range(2):  # the first round may connect and warm caches; both must agree
        with CaptureQueriesContext(connections[alias]) as log:
            start = 0
            for response in _requests(site):
                assert response.status_code in (200, 201), response.content
                timing = loadstats.parse_server_timing(response["Server-Timing"])
                queries = log.captured_queries[start:]
                start = len(log.captured_queries)
                assert queries, "every view runs SQL"
                logged_ms = 1000 * sum(float(q["time"]) for q in queries)
                # Django logs each query's time rounded to the millisecond ("%.3f" seconds).
                assert abs(timing["db"] - logged_ms) <= 0.5 * len(queries) + 0.5, (
                    timing,
                    logged_ms,
                    [(q["sql"][:60], q["time"]) for q in queries],
                )
                assert 0 < timing["db"] <= timing["app"]


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_server_timing_measures_slow_sql(site: Client, alias: str, settings: Any, monkeypatch: Any) -> None:
    """Every request first waits 50 ms in the database (the scratch site's middleware, inside Server-Timing's):
    the header and the query log both say so, and agree."""
    from tests.scratchsite.settings import MIDDLEWARE

    settings.MIDDLEWARE = MIDDLEWARE
    monkeypatch.setenv("DBBENCH_SCRATCH", "sql:0.05")
    client = Client()
    with CaptureQueriesContext(connections[alias]) as log:
        response = client.get("/quizzes/")
    timing = loadstats.parse_server_timing(response["Server-Timing"])
    logged_ms = 1000 * sum(float(q["time"]) for q in log.captured_queries)
    assert any(q["sql"].startswith(SLEEP_SQL[connections[alias].vendor].split("(")[0]) for q in log.captured_queries)
    assert timing["db"] >= 50 and logged_ms >= 50
    assert abs(timing["db"] - logged_ms) <= 0.5 * len(log.captured_queries) + 0.5, (timing, logged_ms)
    assert timing["db"] / timing["app"] > 0.8


def test_server_timing_parses_and_merges() -> None:
    assert loadstats.parse_server_timing("db;dur=2.5, app;dur=7.25") == {"db": 2.5, "app": 7.25}
    assert loadstats.parse_server_timing('cache;desc="hit", db;dur="1"') == {"db": 1.0}
    assert loadstats.parse_server_timing(None) == {}
    one, two = loadstats.TimingHistograms(), loadstats.TimingHistograms()
    for db, app, total in ((1.0, 4.0, 10.0), (2.0, 5.0, 12.0), (3.0, 6.0, 14.0)):
        one.add(f"db;dur={db}, app;dur={app}", total)
    two.add("db;dur=40, app;dur=50", 100.0)
    two.add("app;dur=5", 9.0)  # no SQL time: not counted
    one.merge(json.loads(json.dumps(two.as_dict())))  # as a worker's report travels
    figures = loadstats.timing_figures(one.as_dict())
    assert figures["timed_requests"] == 4
    assert figures["sql_p50_ms"] == 2.0 and figures["sql_p95_ms"] == 40.0
    assert figures["request_p95_ms"] == 100.0
    assert figures["sql_share"] == pytest.approx(46 / 136, abs=1e-4)
    assert figures["sql_share_of_app"] == pytest.approx(46 / 65, abs=1e-4)
    assert loadstats.timing_figures({"count": 0}) == {}
