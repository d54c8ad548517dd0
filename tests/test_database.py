"""dbbench's own databases: created and marked; foreign ones refused; only owned ones dropped."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dbbench.backends.database import MARKER_TABLE, drop_database, ensure_database, is_owned
from dbbench.backends.targets import Target, parse_target
from dbbench.errors import ForeignDatabaseError
from tests.helpers import run_cli


@pytest.fixture
def foreign_target(target: Target):  # type: ignore[no-untyped-def]
    """A database that somebody else made: it holds a table and no dbbench marker."""
    foreign = target.with_database(f"{target.database}_foreign{uuid.uuid4().hex[:6]}")
    spec = foreign.spec
    with spec.connection(foreign, None) as conn:
        conn.cursor().execute(spec.create_database_sql(foreign.database))
    with spec.connection(foreign, foreign.database) as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE customers (id integer PRIMARY KEY, name varchar(50))")
        cur.execute("INSERT INTO customers VALUES (1, 'precious')")
    yield foreign
    with spec.connection(foreign, None) as conn:
        conn.cursor().execute(spec.drop_database_sql(foreign.database))


def _rows(target: Target, sql: str) -> list[tuple[object, ...]]:
    with target.spec.connection(target, target.database) as conn:
        cur = conn.cursor()
        cur.execute(sql)
        return list(cur.fetchall())


def test_creates_and_marks_a_missing_database(target: Target) -> None:
    fresh = target.with_database(f"{target.database}_new{uuid.uuid4().hex[:6]}")
    try:
        assert not is_owned(fresh)
        state = ensure_database(fresh)
        assert state.created and state.marked and state.tables == 0
        assert is_owned(fresh)
        assert _rows(fresh, f"SELECT id FROM {MARKER_TABLE}") == [(1,)]
        # Idempotent: a second call neither recreates nor duplicates the marker.
        assert not ensure_database(fresh).created
        assert _rows(fresh, f"SELECT count(*) FROM {MARKER_TABLE}") == [(1,)]
    finally:
        assert drop_database(fresh)
    assert not is_owned(fresh)


def test_mysql_family_database_is_utf8mb4(scratch_target: Target) -> None:
    if scratch_target.family != "mysql":
        pytest.skip("charset check applies to the MySQL family")
    rows = _rows(
        scratch_target,
        "SELECT default_character_set_name FROM information_schema.schemata WHERE schema_name = DATABASE()",
    )
    assert rows == [("utf8mb4",)]


def test_refuses_a_foreign_database_and_leaves_it_alone(foreign_target: Target) -> None:
    with pytest.raises(ForeignDatabaseError, match="refusing to touch it") as info:
        ensure_database(foreign_target)
    assert "\n" not in str(info.value)
    assert not drop_database(foreign_target)  # not ours: never dropped
    assert _rows(foreign_target, "SELECT name FROM customers") == [("precious",)]
    assert not is_owned(foreign_target)


def test_cli_refuses_foreign_database_without_traceback(foreign_target: Target) -> None:
    url = foreign_target.url
    proc = run_cli("setup", "--target", f"{foreign_target.name}={url}")
    assert proc.returncode == 2
    assert proc.stderr.startswith("dbbench: error:") and "refusing to touch it" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    # Nothing was written: no marker, no quiz tables.
    assert sorted(r[0] for r in _rows(foreign_target, foreign_target.spec.list_tables_sql())) == ["customers"]


def test_allow_foreign_flag_is_explicit(foreign_target: Target) -> None:
    state = ensure_database(foreign_target, allow_foreign=True)
    assert state.marked and state.tables == 1
    assert _rows(foreign_target, "SELECT name FROM customers") == [("precious",)]


def test_a_connect_timeout_in_the_url_is_taken(scratch_target: Target, django_db_blocker: Any) -> None:
    """``?connect_timeout=`` in a target's URL once met dbbench's own and stopped every raw connection with a
    TypeError (multiple values for one keyword); the URL's value is used, by dbbench and by Django alike."""
    from django.db.utils import ConnectionHandler

    url = scratch_target.url
    timed = parse_target(scratch_target.name, url + ("&" if "?" in url else "?") + "connect_timeout=7")
    assert timed.options["connect_timeout"] == "7"
    with timed.spec.connection(timed, None) as conn:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        assert cur.fetchone()[0] == 1
    handler = ConnectionHandler({"default": timed.django_database()})
    try:
        with django_db_blocker.unblock(), handler["default"].cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone()[0] == 1
    finally:
        handler.close_all()
