"""Shared fixtures. Every database test runs against the real servers of the configured targets.

Concurrent test runs on one machine stay apart by database name: point DBBENCH_POSTGRES_URL / DBBENCH_MYSQL_URL
at another database (e.g. ``.../dbbench_alice``) and every test database below is derived from it. The workers
of one run (``-n 2``) stay apart the same way, through ``tests.workers``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from dbbench.backends.database import drop_database, ensure_database
from dbbench.backends.targets import Target
from tests.helpers import ALIASES, ALL_DATABASES, FIXTURES, ROOT, TARGETS, run_cli  # noqa: F401 - also for tests


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, refuse to run without ``-p tests.workers``: the workers would share databases."""
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker and os.environ.get("DBBENCH_TEST_WORKER") != worker:
        pytest.exit("with -n, load tests.workers first: python -m pytest -p tests.workers -n 2 tests", returncode=4)


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> str:
    """The name of each configured target in turn (``postgres``, ``mysql`` by default)."""
    return request.param


@pytest.fixture
def target(alias: str) -> Target:
    """The configured :class:`Target` for ``alias``."""
    return next(t for t in TARGETS if t.name == alias)


@pytest.fixture
def scratch_target(target: Target) -> Iterator[Target]:
    """A fresh, empty, dbbench-owned database on ``target``'s server, dropped afterwards."""
    scratch = target.with_database(f"{target.database}_t{uuid.uuid4().hex[:8]}")
    ensure_database(scratch)
    try:
        yield scratch
    finally:
        drop_database(scratch)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> Iterator[None]:
    """pytest-django's test databases, with every connection closed before they are dropped.

    ``default`` and the first target share one test database; PostgreSQL refuses to drop it while the other
    alias still holds a connection.
    """
    yield
    from django.db import connections

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        connections.close_all()
