"""The bottleneck named (dbbench/load/bottleneck.py): rules on literal figures, and real load runs of a scratch
site whose views wait in SQL (the database is named) or spin in Python (the app server is named)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbbench.backends.targets import Target
from dbbench.load import bottleneck
from dbbench.results import load_result
from tests.helpers import ROOT, small_sites


def _step(app: float, db: float, share: float | None, **extra: Any) -> dict[str, Any]:
    tiers = {
        "app": {"label": "app server", "unknown": None, "cpu_percent": app, "cpu_core_percent": app * 2},
        "database": {"label": "PostgreSQL 15", "unknown": None, "cpu_percent": db, "cpu_core_percent": db * 2},
    }
    timing = {} if share is None else {"sql_share_of_app": share, "sql_p95_ms": 3.0, "app_p95_ms": 40.0}
    return {"users": 300, "p95_ms": 1200.0, "tiers": tiers, "timing": {**timing, "request_p95_ms": 1200.0}, **extra}


@pytest.mark.nodb
def test_the_app_server_is_named_with_its_figures() -> None:
    found = bottleneck.name(_step(97, 14, 0.05), "PostgreSQL")
    assert found["tier"] == "app"
    assert found["sentence"] == (
        "the app server used 97% of its CPU, PostgreSQL 14% of its own; SQL was 3.0 ms of a 1.2 s p95: "
        "the app server's CPU was the limit: requests waited for a free app worker"
    )


@pytest.mark.nodb
@pytest.mark.parametrize(
    ("step", "tier", "words"),
    [
        (_step(30, 95, 0.8), "database", "its CPU was the limit"),
        (_step(10, 2, 0.9), "database", "waiting, not computing"),
        (_step(40, 10, 0.1, locust_saturated=True), "locust", "under-driven"),
        (_step(40, 10, 0.1), "app", "the worker count, not the CPU"),  # 1200 ms at the client, 40 inside
        (_step(40, 10, 0.1, machine={"cpu_busy_percent": 95}), "app", "95% busy"),
        ({"users": 5, "p95_ms": 10.0}, None, "not measured"),
        (
            {
                **_step(17, 5, 0.56),
                "tiers": {
                    "app": {"label": "app server", "cpu_percent": 17, "cpu_core_percent": 17, "cpu_wait_percent": 60},
                    "database": {"label": "PostgreSQL", "cpu_percent": 5, "cpu_core_percent": 5, "cpu_wait_percent": 9},
                },
                "cpu_accounting": {"total_core_s": 20, "other_core_s": 17, "tiers_core_s": {"app": 2}},
            },
            "app",
            "waited for a CPU 60% of a core's time while running 17%: its CPUs were busy with other processes",
        ),
        (
            {
                **_step(97, 14, 0.05),
                "tiers": {
                    "app": {"label": "app server", "cpu_percent": 90, "cpu_core_percent": 90, "cpu_wait_percent": 150},
                    "database": {"label": "PostgreSQL", "cpu_percent": 5, "cpu_core_percent": 5, "cpu_wait_percent": 9},
                },
                "cpu_accounting": {"total_core_s": 20, "other_core_s": 5, "tiers_core_s": {"app": 9, "database": 1}},
            },
            "app",
            "busy with this test's own work, most of it app server",
        ),
        (
            _step(
                7,
                11,
                0.2,
                machine={"cpu_busy_percent": 99},
                cpu_accounting={"total_core_s": 20, "other_core_s": 15, "tiers_core_s": {"app": 1, "database": 2}},
            ),
            "machine",
            "75% of them with other processes",
        ),
    ],
)
def test_rules(step: dict[str, Any], tier: str | None, words: str) -> None:
    found = bottleneck.name(step, "PostgreSQL")
    assert found["tier"] == tier and words in found["sentence"], found


@pytest.mark.nodb
def test_some_waiting_for_a_cpu_does_not_hide_a_database_that_sleeps() -> None:
    """8 requests/s spending 260 ms each inside Django: 30% of a core spent waiting for a CPU is not what limits."""
    step = _step(8, 1, 0.95, rps=8.0, cpu_accounting={"total_core_s": 20, "other_core_s": 15, "tiers_core_s": {}})
    step["tiers"]["app"]["cpu_wait_percent"] = 30
    step["timing"]["app_mean_ms"] = 260.0
    assert bottleneck.name(step)["tier"] == "database"
    step["tiers"]["app"]["cpu_wait_percent"] = 150  # more than half the time inside Django: starved
    found = bottleneck.name(step)
    assert found["tier"] == "app" and "busy with other processes" in found["sentence"]


@pytest.mark.nodb
def test_the_step_past_the_knee_decides() -> None:
    steps = [{"users": 100}, {"users": 200}, {"users": 400}]
    assert bottleneck.deciding_step(steps, {"missed_at": 200})["users"] == 200
    assert bottleneck.deciding_step(steps, {"missed_at": None})["users"] == 400
    assert bottleneck.deciding_step([], None) is None


@pytest.fixture(scope="module")
def sites() -> Iterator[list[Target]]:
    with small_sites("bn") as scratch:
        yield scratch


# The load CLI with the scratch site's settings: gunicorn imports tests.scratchsite from the repository's root.
RUN = """
import sys
import dbbench.load.site as site
from dbbench.cli import main

plain = site.site_env

def scratch_env(*args, **kwargs):
    env = plain(*args, **kwargs)
    env.update(DJANGO_SETTINGS_MODULE="tests.scratchsite.settings", PYTHONPATH=sys.argv[1],
               DBBENCH_SCRATCH=sys.argv[2])
    return env

site.site_env = scratch_env
sys.exit(main(sys.argv[3:]))
"""


def _limit(target: Target, scratch: str, tmp_path: Path) -> dict[str, Any]:
    import subprocess

    out = tmp_path / "load.json"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    args = [
        *("load", "--target", f"{target.name}={target.url}", "--variants", f"{target.name}-cma60"),
        *("--users", "4,30", "--duration", "4s", "--think", "0.5-1", "--workers", "2", "--attempts", "0"),
        *("--output", str(out)),
    ]
    result = subprocess.run(
        [sys.executable, "-c", RUN, str(ROOT), scratch, *args],
        capture_output=True,
        text=True,
        env={**env, "TMPDIR": str(tmp_path)},
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (run,) = load_result(out, "load")[1]["data"]["runs"]
    assert run["bottleneck"] is not None, run
    return run


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1], ids=["postgres", "mysql"])
def test_views_waiting_in_sql_make_the_database_the_bottleneck(sites: list[Target], index: int, tmp_path: Path) -> None:
    run = _limit(sites[index], "sql:0.25", tmp_path)
    found = run["bottleneck"]
    assert found["tier"] == "database", found
    assert found["sql_share_of_app"] >= 0.8 and found["sql_p95_ms"] >= 250
    # pg_sleep and SLEEP use no CPU (on a shared server its other clients' work may make it wait for one).
    assert "it was waiting" in found["sentence"]


@pytest.mark.slow
def test_views_spinning_in_python_make_the_app_server_the_bottleneck(sites: list[Target], tmp_path: Path) -> None:
    run = _limit(sites[0], "spin:0.1", tmp_path)
    found = run["bottleneck"]
    assert found["tier"] == "app", found
    assert found["sql_share_of_app"] < 0.2
    # The app server's CPU, with the figures (the database server, a shared one here, may serve others too).
    assert "the app server" in found["sentence"] and "CPU" in found["sentence"]
