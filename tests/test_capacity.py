"""'What gets you further': the load test's configurations ranked by capacity, and what the verdict says of it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from dbbench.report import capacity
from dbbench.report.verdict import LoadEvidence, decide
from tests.test_verdict import _evidence

pytestmark = pytest.mark.nodb


def _run(variant: str, vendor: str, kind: str, change: str, knee_users: int | None, reached: bool = True) -> dict:
    """A load run whose p95 grows with users: 100 ms at 50, doubling every 100 users past it."""
    steps = [
        {"users": u, "requests": 1000, "rps": u / 3, "p95_ms": 100.0 * 2 ** ((u - 50) / 100)}
        for u in (50, 100, 200, 400)
    ]
    knee = {"users": knee_users, "reached": reached, "rps": (knee_users or 0) / 3}
    return {"variant": variant, "label": variant, "vendor": vendor, "version": "x", "change_kind": kind,
            "change": change, "steps": steps, "knee": knee}  # fmt: skip


def _doc(*runs: dict[str, Any], expected: int | None = 150) -> dict[str, Any]:
    return {"config": {"expected_users": expected, "p95_threshold_ms": 1000.0}, "runs": list(runs)}


def test_options_rank_by_capacity_and_prefer_the_cheaper_change_on_a_tie() -> None:
    doc = _doc(
        _run("postgresql", "PostgreSQL", "as is", "nothing", 200),
        _run("postgresql-pool", "PostgreSQL", "settings", '"OPTIONS": {"pool": True}', 400),
        _run("mariadb", "MariaDB", "settings", "move to MariaDB", 400),
    )
    found = capacity.options(doc, "PostgreSQL", 150)
    assert [o.variant for o in found] == ["postgresql-pool", "mariadb", "postgresql"]
    # Whatever else a run on another engine changes, it needs the migration first.
    assert found[1].kind == capacity.MIGRATION
    # p95 at 150 users lies between the steps at 100 (141 ms) and 200 (283 ms).
    assert found[0].p95_at_expected_ms == pytest.approx((141.42 + 282.84) / 2, rel=1e-3)
    best = capacity.alternatives(found)
    assert best is not None and best.cheaper_goes_as_far
    assert "as far as migrating does" in best.sentence()
    text = capacity.render(found, 150, 1000.0)
    assert text.index("postgresql-pool") < text.index("| 3 | postgresql |")
    assert "p95 at 150 users" in text


def test_only_migrating_gets_further_when_no_cheaper_change_comes_close() -> None:
    found = capacity.options(
        _doc(
            _run("postgresql", "PostgreSQL", "as is", "nothing", 100),
            _run("postgresql-pgbouncer", "PostgreSQL", "service", "PgBouncer", 150),
            _run("mariadb", "MariaDB", "as is", "move", 400),
        ),
        "PostgreSQL",
        300,
    )
    best = capacity.alternatives(found)
    assert best is not None and not best.cheaper_goes_as_far
    assert best.stay.variant == "postgresql-pgbouncer"
    assert found[-1].over_at_expected  # 300 users lie past a knee at 100
    v = decide(replace(_evidence({"pk_lookup": 1.0}, load=LoadEvidence(400, 1.0, 1.0)), capacity=best))
    assert any("only migrating got further" in c and "more than 150" in c for c in v.changes)
    assert any(r.anchor == "load" and "Capacity: migrating" in r.text for r in v.reasons)


def test_a_configuration_not_pushed_to_its_knee_is_a_lower_bound() -> None:
    found = capacity.options(
        _doc(
            _run("postgresql", "PostgreSQL", "as is", "", 400, reached=False), _run("mariadb", "MariaDB", "", "", 300)
        ),
        "PostgreSQL",
    )
    assert found[0].capacity_text().startswith(">= 400 users")
    best = capacity.alternatives(found)
    assert best is not None and best.cheaper_goes_as_far
    assert capacity.options({"runs": []}, "PostgreSQL") == []
    assert "nothing to rank" in capacity.render([], None, None)


def _limited(run: dict[str, Any], app: float, db: float, sql_share: float) -> dict[str, Any]:
    """``run`` with tiers and Server-Timing at every step, and its knee missed at 200 users."""
    for step in run["steps"]:
        step["tiers"] = {
            "app": {"label": "app server", "unknown": None, "cpu_percent": app, "cpu_core_percent": app},
            "database": {"label": "PostgreSQL", "unknown": None, "cpu_percent": db, "cpu_core_percent": db},
        }
        step["timing"] = {"sql_share_of_app": sql_share, "sql_p95_ms": 3.0, "app_p95_ms": 900.0, "request_p95_ms": 1200}
    run["knee"] = {**run["knee"], "missed_at": 200}
    return run


def test_when_the_database_was_not_the_limit_the_verdict_says_what_helps_instead() -> None:
    stay = _limited(_run("postgresql", "PostgreSQL", "as is", "nothing", 100), app=97, db=14, sql_share=0.05)
    move = _limited(_run("mariadb", "MariaDB", "migration", "move", 100), app=96, db=12, sql_share=0.04)
    found = capacity.options(_doc(stay, move), "PostgreSQL")
    best = capacity.alternatives(found)
    assert best is not None and best.database_not_the_limit
    sentence = best.sentence()
    assert "the app server used 97% of its CPU, PostgreSQL 14% of its own; SQL was 3.0 ms of a 1.2 s p95" in sentence
    assert "the database was not the limit" in sentence
    assert sentence.count("capacity is no reason to migrate") == 1  # said once, not once per clause
    assert "gunicorn `--workers`" in sentence and "`--threads`" in sentence
    text = capacity.render(found, None, 1000.0)
    assert "What limited each configuration" in text
    assert "- postgresql: **the app server**; at 200 users, the app server used 97%" in text
    # The database as the limit: no such advice, and the report names it.
    db_bound = _limited(_run("postgresql", "PostgreSQL", "as is", "nothing", 100), app=20, db=95, sql_share=0.8)
    assert "- postgresql: **the database server**; at 200 users" in capacity.render(
        capacity.options(_doc(db_bound, move), "PostgreSQL"), None, 1000.0
    )
    best = capacity.alternatives(capacity.options(_doc(db_bound, move), "PostgreSQL"))
    assert best is not None and not best.database_not_the_limit
    assert "its CPU was the limit" in best.sentence() and "the database was not the limit" not in best.sentence()
