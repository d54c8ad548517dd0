"""``dbbench run --app PATH --from SOURCE`` on the real servers: the shop sample's suite captured on the baseline,
its database (a few rows, read through a user with a password) rehearsed onto the candidate, the capture replayed
on copies of it, and a report whose verdict uses the replayed mix; SOURCE never written; bad input in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbbench.backends.database import drop_database
from dbbench.backends.targets import Target
from tests.helpers import FIXTURES, TARGETS, admin_sql, row_counts, run_cli, scratch_user, url_for

SHOP = FIXTURES / "app_projects" / "shop"
PASSWORD = "s3cret-Fr0m-pw"
# The shop's own settings with DATABASES pointed at the source: how the team's database was made (its migrations).
SHIM = """from shop.settings import *  # noqa: F403
import json, os
DATABASES = {"default": json.loads(os.environ["SHOP_SOURCE"])}
"""
ROWS = """import django
django.setup()
from catalog.models import Product, Tag
tags = [Tag.objects.create(name=n) for n in ("fruit", "red", "green")]
for n in range(12):
    product = Product.objects.create(name=f"item{n}", price_cents=100 + n, attributes={"weight": n + 0.5})
    product.tags.add(tags[n % 3])
"""


def _baseline() -> Target:
    return next(t for t in TARGETS if t.spec.baseline)


def _pair(suffix: str) -> list[Target]:
    """The two targets under database names of this test's own (the run writes ``<name>_appcopy`` beside them)."""
    base = _baseline()
    cand = next(t for t in TARGETS if t.family != base.family)
    return [t.with_database(f"{t.database}_ra{suffix}") for t in (base, cand)]


def _env(pair: list[Target]) -> dict[str, str]:
    return {"DBBENCH_TARGETS": ",".join(f"{t.name}={t.url}" for t in pair)}


def _counts(source: Target) -> dict[str, int]:
    return row_counts(source, ("catalog_product", "catalog_tag", "catalog_product_tags", "django_migrations"))


@pytest.fixture(scope="module")
def shop_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The team's database: the shop's migrations and a few rows, readable (only) by a user with a password."""
    base = _baseline()
    name = f"{base.database}_src{uuid.uuid4().hex[:6]}"
    tmp = tmp_path_factory.mktemp("shopsrc")
    (tmp / "shop_source_settings.py").write_text(SHIM)
    (tmp / "rows.py").write_text(ROWS)
    admin_sql(base, f'CREATE DATABASE "{name}"')
    try:
        env = {
            **os.environ,
            "SHOP_SOURCE": json.dumps(base.with_database(name).django_database()),
            "DJANGO_SETTINGS_MODULE": "shop_source_settings",
            "PYTHONPATH": f"{tmp}{os.pathsep}{SHOP}",
        }
        for argv in (["-m", "django", "migrate", "-v0"], [str(tmp / "rows.py")]):
            proc = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr
        with scratch_user(base, password=PASSWORD) as (user, password):
            admin_sql(base, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {user}", database=name)
            yield _as_user(base, user, password, name)
            admin_sql(base, f'DROP DATABASE "{name}"')  # before its reader goes: the grants live in it
    finally:
        admin_sql(base, f'DROP DATABASE IF EXISTS "{name}"')


def _as_user(base: Target, user: str, password: str, database: str) -> Target:
    from dbbench.backends.targets import parse_target

    return parse_target("source", url_for(base, user, password, database))


@pytest.mark.slow
def test_run_from_source_replays_the_suite_on_the_teams_data(shop_source: Target, tmp_path: Path) -> None:
    pair = _pair(uuid.uuid4().hex[:6])
    copies = [t.with_database(f"{t.database}_appcopy") for t in pair]
    before = _counts(shop_source)
    out = tmp_path / "run"
    try:
        proc = run_cli(
            *("run", "--app", str(SHOP), "--from", shop_source.url, "--skip", "parity"),
            *("--replay-seconds", "0.3", "--output-dir", str(out)),
            env=_env(pair),
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        assert _counts(shop_source) == before  # the team's data: only read
        for name in ("audit.json", "app.json", "app.capture.json", "rehearsal.json", "replay.json", "report.md"):
            assert (out / name).is_file(), name
        text = proc.stdout
        assert "[9/10] replay ..." in text and "[10/10] report ..." in text
        assert "benchmarks ...\n    skipped: the quiz site's, not run with --from" in text
        shown = text + proc.stderr + "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
        assert PASSWORD not in shown

        rehearsal = json.loads((out / "rehearsal.json").read_text())["data"]
        assert rehearsal["ok"] and rehearsal["project"].startswith("shop")
        assert {t["table"]: t["rows"] for t in rehearsal["tables"]}["catalog_product"] == 12
        replay = json.loads((out / "replay.json").read_text())["data"]
        # Replayed under the targets' own names, on the copies of the source on both servers.
        assert (replay["baseline"], replay["candidate"]) == (pair[0].name, pair[1].name)
        assert replay["targets"][pair[0].name].endswith(f"/{copies[0].database}")
        assert replay["targets"][pair[1].name].endswith(f"/{copies[1].database}")
        assert replay["row_counts_before"][pair[0].name]["catalog_product"] == 12 and replay["data_unchanged"]
        statuses = {s["status"] for s in replay["shapes"]}
        assert "replayed" in statuses and "fails" in statuses  # the sliced IN subquery MariaDB refuses
        stages = {s["stage"]: s for s in json.loads((out / "run.json").read_text())["data"]["stages"]}
        assert {n for n, s in stages.items() if s["status"] == "skipped"} == {"setup", "benchmarks", "load", "parity"}
        assert "--from" in stages["benchmarks"]["note"]

        report = (out / "report.md").read_text()
        verdict = report.split("## Verdict", 1)[1].split("\n## ", 1)[0]
        assert "Over the operation mix" in verdict and "`shape " in verdict  # the replayed shapes decide
        assert "your own queries as captured and replayed" in report
        assert "## Your queries, replayed" in report and "## Migration rehearsal" in report
        assert "quiz attempts" not in report  # no quiz site section without its benchmarks
    finally:
        for t in [*copies, *pair]:
            drop_database(t)


@pytest.fixture
def empty_database() -> Iterator[Target]:
    """A PostgreSQL database with no tables: not a Django project's (the test's own, dropped afterwards)."""
    base = _baseline()
    empty = base.with_database(f"{base.database}_empty{uuid.uuid4().hex[:6]}")
    admin_sql(base, f'CREATE DATABASE "{empty.database}"')
    try:
        yield empty
    finally:
        admin_sql(base, f'DROP DATABASE IF EXISTS "{empty.database}"')


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, empty_database: Target) -> None:
    pair = _pair(uuid.uuid4().hex[:6])
    other = next(t for t in TARGETS if not t.spec.baseline)
    base = _baseline()
    unreachable = f"postgres://reader:{PASSWORD}@127.0.0.1:1/shop"
    cases = {
        "is not a Django project's database": ["--app", str(SHOP), "--from", empty_database.url],
        "needs --app": ["--from", base.url],
        "must be PostgreSQL": ["--app", str(SHOP), "--from", other.url],
        "cannot connect": ["--app", str(SHOP), "--from", unreachable],
        "that this run writes to": ["--app", str(SHOP), "--from", pair[0].url],
        "go with --from": ["--app", str(SHOP), "--with-quiz"],
        "give two targets": [
            *("--app", str(SHOP), "--from", base.url, "--target", f"a={pair[0].url}", "--target", f"b={pair[1].url}"),
            *("--target", f"c={pair[1].with_database(pair[1].database + 'x').url}"),
        ],
    }
    for expected, args in cases.items():
        out = tmp_path / expected.replace(" ", "_")
        proc = run_cli("run", *args, "--output-dir", str(out), env=_env(pair), timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, expected
        assert len(lines) == 1 and lines[0].startswith("dbbench: error:") and expected in lines[0], proc.stderr
        assert PASSWORD not in proc.stdout + proc.stderr
        assert not out.exists(), expected
