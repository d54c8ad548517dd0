"""``dbbench run``: the whole job on the real servers, and how a failing stage stops it (one line, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbbench import pipeline
from dbbench.backends.targets import Target, parse_target
from dbbench.errors import ConfigError, StageFailed
from tests.helpers import TARGETS, run_cli


def _target(family: str) -> Target:
    return next(t for t in TARGETS if t.family == family)


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="unknown profile 'huge'"):
        pipeline.run("huge", TARGETS, out)
    with pytest.raises(ConfigError, match="at least two targets"):
        pipeline.run("quick", TARGETS[:1], out)
    with pytest.raises(ConfigError, match="cannot skip benchmarks"):
        pipeline.run("quick", TARGETS, out, skip=["benchmarks"])
    assert not out.exists()


def test_an_unreachable_server_stops_the_run_at_the_doctor(tmp_path: Path) -> None:
    # Port 1 refuses connections; the password must not appear in the message.
    down = parse_target("mysql", "mysql://root:hunter2@127.0.0.1:1/dbbench_report_down")
    lines: list[str] = []
    with pytest.raises(StageFailed) as info:
        pipeline.run("quick", [_target("postgresql"), down], tmp_path / "run", echo=lines.append)
    message = str(info.value)
    assert message.startswith("stage doctor failed on mysql: ")
    assert "hunter2" not in message and "\n" not in message
    assert str(tmp_path / "run") in message  # where the completed stages' results are
    assert lines[0].startswith("[1/8] doctor")
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())["data"]
    assert [(s["stage"], s["status"]) for s in manifest["stages"]] == [("doctor", "failed")]
    assert "hunter2" not in (tmp_path / "run" / "run.json").read_text()


@pytest.mark.slow
def test_cli_names_the_failed_stage_and_backend_in_one_line(tmp_path: Path) -> None:
    env = {"DBBENCH_MYSQL_URL": "mysql://root:hunter2@127.0.0.1:1/dbbench_report_down"}
    result = run_cli("run", "--profile", "quick", "--output-dir", str(tmp_path / "run"), env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("dbbench: error: stage doctor failed on mysql: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr and "hunter2" not in result.stderr


@pytest.mark.slow
def test_debug_shows_the_failed_stage_s_traceback_and_its_cause(tmp_path: Path) -> None:
    """Under ``dbbench run`` too: the stage's error and the driver's error behind it, then the same one line."""
    env = {"DBBENCH_MYSQL_URL": "mysql://root:hunter2@127.0.0.1:1/dbbench_report_down"}
    result = run_cli("run", "--profile", "quick", "--output-dir", str(tmp_path / "run"), "--debug", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "MySQLdb.OperationalError" in result.stderr  # the driver's error, two links down the chain
    assert "dbbench.errors.ConnectionFailed" in result.stderr and "dbbench.errors.StageFailed" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("dbbench: error: stage doctor failed on mysql: ")
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.slow
def test_a_foreign_database_stops_the_run_at_setup(tmp_path: Path) -> None:
    """A database with someone else's tables is refused; the doctor stage before it completed."""
    pg = _target("postgresql")
    foreign = pg.with_database(pg.database + "_foreign")
    spec = foreign.spec
    with spec.connection(foreign, None) as conn:
        conn.cursor().execute(spec.drop_database_sql(foreign.database))
        conn.cursor().execute(spec.create_database_sql(foreign.database))
    try:
        with spec.connection(foreign, foreign.database) as conn:
            conn.cursor().execute("CREATE TABLE invoices (id integer PRIMARY KEY)")
        env = {"DBBENCH_POSTGRES_URL": foreign.url}
        result = run_cli("run", "--profile", "quick", "--output-dir", str(tmp_path / "run"), env=env)
    finally:
        # dbbench only drops databases it marked; this one is the test's own, made above.
        with spec.connection(foreign, None) as conn:
            conn.cursor().execute(spec.drop_database_sql(foreign.database))
    assert result.returncode == 1
    assert result.stderr.startswith("dbbench: error: stage setup failed on postgres: ")
    assert "refusing to touch it" in result.stderr and result.stderr.count("\n") == 1
    assert "[1/8] doctor" in result.stdout and "[2/8] setup" in result.stdout
    assert "[3/7]" not in result.stdout
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())["data"]
    assert [(s["stage"], s["status"]) for s in manifest["stages"]] == [("doctor", "ok"), ("setup", "failed")]


@pytest.mark.slow
def test_quick_run_produces_the_report(tmp_path: Path) -> None:
    """The README's main command at the quick profile (the load test skipped: it alone takes a minute)."""
    out = tmp_path / "run"
    result = run_cli("run", "--profile", "quick", "--skip", "load", "--output-dir", str(out), timeout=600)
    assert result.returncode == 0, result.stderr
    for stage in ("doctor", "setup", "benchmarks", "parity", "audit", "load", "rehearsal", "report"):
        assert f"] {stage} ..." in result.stdout, stage
    assert f"report: {out / 'report.html'}" in result.stdout
    names = sorted(p.name for p in out.iterdir())
    assert any(n.startswith("benchmarks-quick-") and n.endswith(".json") for n in names), names
    assert {"parity.json", "audit.json", "rehearsal.json", "run.json", "report.md", "report.html"} <= set(names)
    manifest = json.loads((out / "run.json").read_text())["data"]
    statuses = {s["stage"]: s["status"] for s in manifest["stages"]}
    assert statuses == {
        "doctor": "ok",
        "setup": "ok",
        "benchmarks": "ok",
        "parity": "ok",
        "audit": "ok",
        "load": "skipped",
        "rehearsal": "ok",
    }
    md = (out / "report.md").read_text()
    for heading in ("## Verdict", "## What was measured", "## Latency per operation and size", "## Portability"):
        assert heading in md, heading
    # The quiz app's own code was audited: the parity differences split into the ones it uses and the others.
    assert "### Differences your code uses" in md and "_Others to know (" in md
    html = (out / "report.html").read_text()
    assert "<details><summary>Others to know (" in html and "<details><summary>Same on every server (" in html
    assert "_Control" in md  # every run has its control
    assert "MariaDB 10.11" in md and "PostgreSQL 15" in md
    assert "data:image/png;base64," in (out / "report.html").read_text()
