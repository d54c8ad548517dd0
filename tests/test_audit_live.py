"""The audit's SQL claims checked on the live servers: what it calls different is different, its rewrites hold."""

from __future__ import annotations

from typing import Any

import pytest

from dbbench.audit.sql import REWRITE, SEMANTICS, check_sql
from dbbench.backends.targets import Target
from tests.helpers import TARGETS

# --- the SQL claims on the live servers -----------------------------------------------------------------------


def _one_of(family: str) -> Target:
    target = next((t for t in TARGETS if t.family == family), None)
    if target is None:
        pytest.skip(f"no {family} target configured")
    return target


def _value(target: Target, sql: str) -> Any:
    with target.spec.connection(target, None) as conn:  # no database: these read literals only
        cur = conn.cursor()
        cur.execute(sql)
        value = cur.fetchone()[0]
    return int(value) if isinstance(value, bool) else value  # PostgreSQL booleans vs MariaDB 0/1


# What each "semantics" construct does on this machine's servers: the same SQL, different answers.
SEMANTICS_CASES = [
    ("SELECT 'ABC' LIKE 'a%'", "LIKE", 0, 1),
    ("SELECT 'résumé' LIKE 'resume'", "LIKE", 0, 1),
    ("SELECT CONCAT('a', NULL)", "CONCAT()", "a", None),
    ("SELECT LENGTH('é')", "LENGTH()", 1, 2),
    ("SELECT GREATEST(1, NULL)", "GREATEST()", 1, None),
    ("SELECT LEAST(1, NULL)", "LEAST()", 1, None),
]


def test_semantics_findings_hold_on_the_live_servers() -> None:
    pg, my = _one_of("postgresql"), _one_of("mysql")
    for sql, label, on_pg, on_my in SEMANTICS_CASES:
        assert label in [c.label for c in check_sql(sql).of_kind(SEMANTICS)], sql
        assert (_value(pg, sql), _value(my, sql)) == (on_pg, on_my), sql


# Rewrites: sqlglot's MySQL version gives PostgreSQL's answer on the MySQL-family server.
REWRITE_CASES = [
    ("SELECT 'ab' || 'cd'", "abcd"),
    ("SELECT '41'::int + 1", 42),
    ("SELECT 'ABC' ILIKE 'a%'", 1),
    ("SELECT 1 IS DISTINCT FROM NULL", 1),
    ("SELECT to_char(DATE '2024-03-05', 'YYYY-MM-DD')", "2024-03-05"),
]


def test_rewrites_give_postgresqls_answer_on_the_mysql_family_server() -> None:
    pg, my = _one_of("postgresql"), _one_of("mysql")
    for sql, answer in REWRITE_CASES:
        check = check_sql(sql)
        assert check.of_kind(REWRITE) and check.translation, sql
        assert _value(pg, sql) == answer, sql
        assert _value(my, check.translation) == answer, check.translation
    # And why they are blockers: as written, || is a logical OR there (no error, a wrong answer).
    assert _value(my, "SELECT 'ab' || 'cd'") == 0
