"""Per-SQL-shape histograms (dbbench/load/shapes.py) and the report's tiers section (dbbench/report/tiers.py),
on literal inputs; the real run in tests/test_load.py checks them end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dbbench.load import shapes
from dbbench.report import tiers as report_tiers

pytestmark = pytest.mark.nodb

PG = 'SELECT "quiz_quiz"."id" FROM "quiz_quiz" WHERE "quiz_quiz"."id" = %s'
MY = "SELECT `quiz_quiz`.`id` FROM `quiz_quiz` WHERE `quiz_quiz`.`id` = %s"


def test_workers_files_merge_and_a_window_is_a_difference(tmp_path: Path) -> None:
    worker = shapes.ShapeRecorder(tmp_path)
    for ms in (1.0, 1.0, 2.0, 9.0):
        worker.add(PG, ms)
    worker.add("INSERT %s", 5.0)
    worker.maybe_flush()
    # A second worker's file, as another process wrote it.
    (tmp_path / "99999.json").write_text(json.dumps({PG: {"count": 1, "total_ms": 40.0, "buckets": {"40": 1}}}))
    before = shapes.read_all(tmp_path)
    assert before[PG]["count"] == 5 and before[PG]["total_ms"] == 53.0
    assert before[PG]["buckets"] == {"1": 2, "2": 1, "9": 1, "40": 1}
    for ms in (3.0, 3.0, 100.0):
        worker.add(PG, ms)
    worker.flushed = 0.0  # flushed at most once a second: force it
    worker.maybe_flush()
    window = shapes.difference(shapes.read_all(tmp_path), before)
    assert window == {PG: {"count": 3, "total_ms": 106.0, "buckets": {"3": 2, "1e+02": 1}}}  # INSERT: nothing new
    (row,) = shapes.figures(window, seconds=2.0)
    assert row == {
        "shape": PG,
        "count": 3,
        "per_s": 1.5,
        "total_ms": 106.0,
        "mean_ms": pytest.approx(35.333, abs=0.001),
        "p50_ms": 3.0,
        "p95_ms": 100.0,
        "p99_ms": 100.0,
    }


def _shape(sql: str, total: float) -> dict[str, Any]:
    return {"shape": sql, "count": 10, "per_s": 1.0, "total_ms": total, "p50_ms": 1, "p95_ms": 2, "p99_ms": 3}


def test_shapes_line_up_across_backends() -> None:
    rows = shapes.side_by_side([("pg", [_shape(PG, 50.0)]), ("maria", [_shape(MY, 80.0), _shape("X", 1.0)])])
    assert [r["shape"] for r in rows] == ["SELECT quiz_quiz.id FROM quiz_quiz WHERE quiz_quiz.id = %s", "X"]
    assert set(rows[0]["by"]) == {"pg", "maria"}


def _run(vendor: str, variant: str, users: int, app: float, db: float) -> dict[str, Any]:
    step = {
        "users": users,
        "tiers": {
            "app": {"label": "app", "unknown": None, "cpu_percent": app, "cpus": 1.0},
            "database": {"label": vendor, "unknown": "the server runs on another machine (db)"}
            if db < 0
            else {"label": vendor, "unknown": None, "cpu_percent": db, "cpus": 1.0},
        },
        "timing": {"sql_p95_ms": 3.0, "request_p95_ms": 1200.0, "sql_share_of_app": 0.05},
        "cpu_accounting": {"unaccounted_percent": -1.25},
        "sql_shapes": [_shape(PG if vendor == "PostgreSQL" else MY, 40.0)],
    }
    return {
        "alias": variant.split("-")[0],
        "variant": variant,
        "vendor": vendor,
        "version": "1",
        "conn_max_age": 60,
        "knee": {"users": users, "reached": True, "missed_at": users * 2},
        "steps": [step],
    }


def test_the_report_shows_every_tier_and_the_shapes(tmp_path: Path) -> None:
    data = {"runs": [_run("PostgreSQL", "postgres-cma60", 100, 97, 14), _run("MariaDB", "mysql-cma60", 120, 95, -1)]}
    text = report_tiers.section(data, tmp_path, 0)
    assert (
        "| PostgreSQL 1 (postgres-cma60), CONN_MAX_AGE=60 | 100 | 97% of 1 | 14% of 1 | - | - | 3.0 | 1,200 | 5% "
        "| -1.2% |" in text
    )
    assert "| 95% of 1 | unknown |" in text  # a tier that cannot be read is unknown, never 0
    assert "at 100 users" in text and "at 120 users" in text
    assert "`SELECT quiz_quiz.id FROM quiz_quiz WHERE quiz_quiz.id = %s` | 1/s, p50 1.0, p95 2.0, p99 3.0 ms" in text
    assert (tmp_path / "load_tiers_0.png").stat().st_size > 1000
    assert report_tiers.section({"runs": [{"steps": [{"users": 5}]}]}, tmp_path, 1) == ""
