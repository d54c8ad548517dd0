"""``dbbench load``: figures from literal Locust output, and short real runs of gunicorn + Locust on each backend.

The real runs go through the CLI in a subprocess, on scratch databases of their own, and check afterwards that
no gunicorn or Locust process is left, also after Ctrl-C and after the application server dies mid-run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from dbbench.backends.database import drop_database
from dbbench.backends.targets import Target
from dbbench.errors import ConfigError, ResultsError
from dbbench.load import stats as loadstats
from dbbench.load.config import build_config, parse_seconds
from dbbench.results import load_result
from tests.helpers import (
    ROOT,
    TARGETS,
    admin_sql,
    load_small_fixture,
    run_cli,
    scratch_user,
    small_sites,
    url_for,
)

# --- pure figures -------------------------------------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    histogram = {10: 50, 20: 45, 300: 4, 1200: 1}  # 100 requests
    assert loadstats.percentile(histogram, 0.50) == 10
    assert loadstats.percentile(histogram, 0.95) == 20
    assert loadstats.percentile(histogram, 0.96) == 300
    assert loadstats.percentile(histogram, 0.99) == 300
    assert loadstats.percentile(histogram, 1.0) == 1200
    assert loadstats.percentile({}, 0.5) == 0


def test_step_figures_from_locust_json() -> None:
    document = {
        "reset_at": 1000.0,
        "stopped_at": 1010.0,
        "users": 50,
        "workers": 2,
        # JSON turns Locust's integer histogram keys into strings.
        "entries": [
            {
                "name": "/quizzes/[id]/",
                "method": "GET",
                "num_requests": 60,
                "num_failures": 0,
                "total_response_time": 1200,
                "response_times": {"10": 30, "30": 30},
            },
            {
                "name": "/quizzes/[id]/attempts/",
                "method": "POST",
                "num_requests": 40,
                "num_failures": 2,
                "total_response_time": 4000,
                "response_times": {"50": 36, "400": 4},
            },
        ],
        "errors": [
            {"method": "POST", "name": "/quizzes/[id]/attempts/", "error": "HTTP 500", "occurrences": 2},
        ],
    }
    step = loadstats.step_figures(document, 50)
    assert (step.users, step.requests, step.failures, step.seconds, step.locust_workers) == (50, 100, 2, 10.0, 2)
    assert step.rps == 10.0
    assert step.failure_rate == 0.02
    assert (step.p50_ms, step.p95_ms, step.p99_ms, step.max_ms) == (30, 50, 400, 400)
    assert step.mean_ms == 52.0
    assert step.endpoints["GET /quizzes/[id]/"] == loadstats.Endpoint(60, 0, 10, 30)
    assert step.errors == [{"endpoint": "POST /quizzes/[id]/attempts/", "error": "HTTP 500", "count": 2}]
    assert step.as_dict()["failure_rate"] == 0.02


def _step(users: int, p95: float, failure_rate: float = 0.0, requests: int = 100) -> dict[str, Any]:
    return {"users": users, "p95_ms": p95, "failure_rate": failure_rate, "requests": requests}


@pytest.mark.parametrize(
    ("steps", "users", "reached"),
    [
        ([_step(10, 50), _step(50, 200), _step(100, 1500), _step(200, 4000)], 50, True),
        ([_step(10, 50), _step(50, 900)], 50, False),
        ([_step(10, 1200)], None, True),
        # A lucky bigger step after a bad one does not move the knee up.
        ([_step(10, 50), _step(50, 1500), _step(100, 800)], 10, True),
        # Failures count: p95 is fast because the requests fail fast.
        ([_step(10, 50), _step(50, 20, failure_rate=0.3)], 10, True),
        ([_step(10, 50), _step(50, 0, requests=0)], 10, True),
    ],
)
def test_knee(steps: list[dict[str, Any]], users: int | None, reached: bool) -> None:
    knee = loadstats.knee(list(reversed(steps)), threshold_ms=1000, max_failure_rate=0.01)
    assert (knee.users, knee.reached) == (users, reached)


def test_ids_round_trip_through_ranges() -> None:
    ids = [1, 2, 3, 7, 9, 10, 11, 30]
    assert loadstats.encode_ids(reversed(ids)) == "1-3,7,9-11,30"
    assert loadstats.parse_ids("1-3,7,9-11,30") == tuple(ids)
    assert loadstats.encode_ids(range(1, 5001)) == "1-5000"
    scattered = range(1, 200_001, 2)  # 100k ids, no two adjacent
    assert loadstats.compact_ids(range(1, 5001)) == "1-5000"
    thinned = loadstats.parse_ids(loadstats.compact_ids(scattered, max_chars=1000))
    assert len(thinned) > 0 and set(thinned) <= set(scattered) and thinned[0] == 1 and thinned[-1] > 190_000


def test_config_from_strings() -> None:
    config = build_config(users="10,5,10", duration="1m", think="2-4", conn_max_age="60,0", p95_threshold="500ms")
    assert config.users == (5, 10)
    assert (config.duration_s, config.think_s, config.conn_max_ages) == (60.0, (2.0, 4.0), (60, 0))
    assert config.p95_threshold_ms == 500.0
    assert build_config(max_failure_rate="5%").max_failure_rate == 0.05
    assert build_config(attempts="0").attempts is None
    assert build_config(quick=True).users == (5,)
    assert parse_seconds("20s", what="x") == 20.0


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"users": "0"}, "at least 1"),
        ({"users": "ten"}, "bad user count"),
        ({"duration": "soon"}, "--duration"),
        ({"think": "5-1"}, "--think"),
        ({"conn_max_age": "-1"}, "--conn-max-age"),
        ({"workers": 0}, "--workers"),
        ({"remote_workers": 2}, "--master-port"),
        ({"remote_workers": 2, "master_port": 5557, "listen": "0.0.0.0"}, "--listen"),
        ({"listen": "0.0.0.0"}, "open to the network"),
        ({"listen": "192.0.2.10"}, "open to the network"),
        ({"listen": "example.org"}, "open to the network"),
        ({"p95_threshold": "0"}, "--p95-threshold"),
    ],
)
def test_bad_config_is_one_line(option: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(**option)


def test_cli_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    result = run_cli("load", "--users", "0", "--output", str(out))
    assert result.returncode == 2
    assert result.stderr == "dbbench: error: bad user count '0': must be at least 1\n"
    result = run_cli("load", "--quick", "--output", str(tmp_path / "missing" / "load.json"), "--attempts", "0")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_failures_are_blamed_on_an_unreachable_database(scratch_target: Target) -> None:
    from dbbench.backends.targets import parse_target
    from dbbench.load.site import diagnose

    down = parse_target("down", "postgres://postgres:s3cret@127.0.0.1:1/dbbench_x")
    text = diagnose(down, "every request failed at 10 users: HTTPError 500")
    assert text.startswith("every request failed at 10 users: HTTPError 500; down: cannot connect to ")
    assert "s3cret" not in text
    assert diagnose(scratch_target, "the site is not healthy") == "the site is not healthy"


# --- real runs ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_targets() -> Iterator[list[Target]]:
    """Scratch databases on every backend holding ``fixtures/quiz_small.json``, dropped afterwards."""
    with small_sites("lt") as scratch:
        yield scratch


def _target_args(targets: list[Target]) -> list[str]:
    return [arg for t in targets for arg in ("--target", f"{t.name}={t.url}")]


def _leftovers(marker: str) -> list[psutil.Process]:
    """gunicorn or Locust processes whose command line or environment mentions ``marker``."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            text = " ".join(proc.info["cmdline"] or [])
            if "gunicorn" not in text and "locust" not in text:
                continue
            if marker in text or marker in " ".join(f"{k}={v}" for k, v in proc.environ().items()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _runs(path: Path) -> list[dict[str, Any]]:
    return load_result(path, "load")[1]["data"]["runs"]


@pytest.mark.slow
def test_short_run_on_every_backend(tmp_path: Path) -> None:
    """Seeded through the seeder, a few users for a few seconds: requests succeed, figures recorded, data kept."""
    from dbbench.backends.database import is_owned

    scratch = [t.with_database(f"{t.database}_ls{os.getpid()}") for t in TARGETS]
    out = tmp_path / "load.json"
    try:
        result = run_cli(
            "load",
            *_target_args(scratch),
            *("--users", "3", "--duration", "2s", "--conn-max-age", "0", "--think", "0.5-1.5"),
            *("--variants", ",".join(f"{t.name}-cma0" for t in scratch)),  # not the pool's: test_variants.py
            *("--attempts", "500", "--workers", "2", "--output", str(out)),
            env={"TMPDIR": str(tmp_path)},
            timeout=180,
        )
        assert result.returncode == 0, result.stderr
        runs = _runs(out)
        assert [r["alias"] for r in runs] == [t.name for t in scratch]
        for run in runs:
            assert run["status"] == "complete" and run["error"] is None
            assert run["vendor"] in ("PostgreSQL", "MariaDB", "MySQL") and run["attempts"] == 500
            (step,) = run["steps"]
            assert step["users"] == 3 and step["failures"] == 0 and step["tool_errors"] == 0
            assert step["requests"] >= 3 and step["rps"] > 0 and step["p95_ms"] >= step["p50_ms"] > 0
            assert step["seconds"] >= 2
            assert 0 <= step["machine"]["cpu_busy_percent"] <= 100 and step["machine"]["loadavg_1m"] >= 0
            assert run["knee"]["users"] == 3 and not run["knee"]["reached"]
            # Every tier measured over the step's window, and the machine's CPU time accounted for.
            tiers = step["tiers"]
            assert set(tiers) == {"app", "database", "locust", "dbbench"}
            for figures in tiers.values():
                assert figures["unknown"] is None and figures["cpu_core_percent"] >= 0 and figures["rss_bytes"] > 0
            assert tiers["app"]["processes"] >= 3  # the master and 2 workers
            assert step["cpu_accounting"]["ok"], step["cpu_accounting"]
            # Every SQL shape the site ran, with its histogram, merged across the workers.
            assert step["sql_shapes"] and all(s["count"] > 0 and s["p95_ms"] >= s["p50_ms"] for s in step["sql_shapes"])
            assert any(s["shape"].startswith("INSERT") for s in step["sql_shapes"])
            # Server-Timing came back on every answered request.
            assert step["timing"]["timed_requests"] == step["requests"]
            assert (
                0 < step["timing"]["sql_p50_ms"] <= step["timing"]["app_p95_ms"] <= step["timing"]["request_p95_ms"] + 1
            )
            # The attempts the students submitted were removed again: every run starts from the seeded data.
            assert run["attempts_removed_after"] >= 1
        assert "| users |" in result.stdout and f"wrote {out}" in result.stdout
        assert _leftovers(str(tmp_path)) == [] and _leftovers(scratch[0].database) == []
    finally:
        for t in scratch:
            if is_owned(t):
                drop_database(t)


@pytest.mark.slow
def test_locust_master_and_two_workers(fixture_targets: list[Target], tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    result = run_cli(
        "load",
        *_target_args(fixture_targets[:1]),
        *("--users", "4", "--duration", "2s", "--conn-max-age", "60", "--think", "0.5-1.5", "--attempts", "0"),
        *("--variants", f"{fixture_targets[0].name}-cma60"),
        *("--workers", "2", "--locust-workers", "2", "--output", str(out)),
        env={"TMPDIR": str(tmp_path)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (run,) = _runs(out)
    (step,) = run["steps"]
    assert step["locust_workers"] == 2 and step["tool_errors"] == 0
    assert step["requests"] >= 4 and step["failures"] == 0
    assert _leftovers(str(tmp_path)) == []


@pytest.mark.slow
def test_the_knee_search_and_a_saturated_locust_switching_to_workers(
    fixture_targets: list[Target], tmp_path: Path
) -> None:
    """A tiny search (2 users, then 4, its ceiling) with every Locust process counted as saturated (a CPU limit
    of 0%): the first step is measured again with two workers, which saturate too, so the load generator was the
    limit: the search stops there and claims no knee (its step is not counted as the site's)."""
    out = tmp_path / "load.json"
    result = run_cli(
        "load",
        *_target_args(fixture_targets[:1]),
        *("--start-users", "2", "--max-users", "4", "--budget", "90s", "--coarse-duration", "2s"),
        *("--think", "0.5-1.5", "--attempts", "0", "--variants", f"{fixture_targets[0].name}-cma60"),
        *("--workers", "2", "--locust-cpu-limit", "0", "--saturated-workers", "2", "--output", str(out)),
        env={"TMPDIR": str(tmp_path)},
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    (run,) = _runs(out)
    assert [(s["users"], s["phase"], s["locust_workers"]) for s in run["steps"]] == [(2, "grow", 2)]
    (step,) = run["steps"]
    assert step["locust_note"].startswith("locust saturated (")
    assert step["locust_note"].endswith("again with 2 workers: the site was under-driven")
    assert step["locust_saturated"] and 0 <= step["locust_cpu_percent"] <= 100
    assert step["failures"] == 0 and step["tool_errors"] == 0 and step["requests"] >= 2
    knee = loadstats.Knee.from_dict(run["knee"])
    assert (knee.search, knee.users, knee.reached, knee.generator_limit_at) == ("locust", None, False, 2)
    assert 0 < (knee.spent_s or 0) <= 90 and "the load generator (Locust) was the limit" in knee.describe()
    assert run["bottleneck"]["tier"] == "locust" and "knee search (locust, " in result.stdout
    assert _leftovers(str(tmp_path)) == []


def _start_cli(targets: list[Target], out: Path, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    argv = [sys.executable, "-m", "dbbench", "load", *_target_args(targets), "--attempts", "0", "--output", str(out)]
    variant = ("--variants", f"{targets[0].name}-cma60")
    return subprocess.Popen(
        [*argv, "--conn-max-age", "60", *variant, "--workers", "2", "--think", "0.5-1", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_steps(path: Path, proc: subprocess.Popen[str], steps: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if sum(len(r["steps"]) for r in _runs(path)) >= steps:
                return
        except ResultsError:  # not written yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"{steps} step(s) not recorded in time")


def _children(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children(recursive=True)


def _wait_for_locust(proc: subprocess.Popen[str], timeout: float = 30) -> list[psutil.Process]:
    """The CLI's descendants once a Locust process is among them (and has had a second to start its users)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        children = _children(proc)
        if any("locust" in " ".join(c.cmdline()) for c in children):
            time.sleep(1.0)
            return _children(proc)
        time.sleep(0.1)
    raise AssertionError("Locust did not start")


@pytest.mark.slow
def test_ctrl_c_stops_everything_and_keeps_completed_steps(fixture_targets: list[Target], tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    proc = _start_cli(fixture_targets[:1], out, tmp_path, "--users", "2,3", "--duration", "4s")
    try:
        _wait_for_steps(out, proc, 1)
        children = _wait_for_locust(proc)  # the second step is running
        assert any("gunicorn" in " ".join(c.cmdline()) for c in children)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    data = load_result(out, "load")[1]["data"]
    assert data["status"] == "interrupted"
    (run,) = data["runs"]
    assert run["status"] == "interrupted"
    assert [s["users"] for s in run["steps"]] == [2]


@pytest.mark.slow
def test_application_server_dying_mid_run_fails_clearly(fixture_targets: list[Target], tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    proc = _start_cli(fixture_targets[:1], out, tmp_path, "--users", "2,3,4", "--duration", "3s")
    try:
        _wait_for_steps(out, proc, 1)
        children = _children(proc)
        (server,) = [c for c in children if "gunicorn" in " ".join(c.cmdline()) and c.ppid() == proc.pid]
        os.killpg(server.pid, signal.SIGKILL)  # the application server crashes, workers and all
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    assert "load test failed on" in stderr and "Traceback" not in stderr
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    (run,) = _runs(out)
    assert run["status"] == "failed" and "application server" in run["error"]
    assert run["steps"][0]["users"] == 2 and run["steps"][0]["failures"] == 0  # the completed step is kept
    assert "FAILED" in stdout


# --- failures the site itself causes (issue 20, case 11) -----------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("LocustBadStatusCode(code=500)", "http_5xx"),
        ("LocustBadStatusCode(code=503)", "http_5xx"),
        ("LocustBadStatusCode(code=404)", "http_4xx"),
        ("ConnectionRefusedError(111, 'Connection refused')", "connection"),
        ("ConnectionResetError(104, 'Connection reset by peer')", "connection"),
        ("Timeout('10.0 seconds')", "timeout"),
        ("ConnectionTimeout()", "timeout"),
        ("CatchResponseError('response is not a JSON object')", "other"),
    ],
)
def test_failures_are_classified(error: str, kind: str) -> None:
    assert loadstats.failure_kind(error) == kind


def test_the_knee_says_failures_passed_the_limit_when_p95_is_fast() -> None:
    # The red-team figures: p95 33 ms while 28-56% of the requests failed.
    steps = [_step(10, 33, failure_rate=0.28), _step(50, 33, failure_rate=0.56)]
    knee = loadstats.knee(steps, threshold_ms=1000, max_failure_rate=0.01)
    assert (knee.users, knee.missed_at, knee.reason) == (None, 10, "failures")
    assert knee.describe() == "below the smallest step (failures 28.0% over the 1% limit at 10 users)"
    assert "p95" not in knee.describe()
    slow = loadstats.knee([_step(10, 50), _step(50, 1500)], threshold_ms=1000, max_failure_rate=0.01)
    assert slow.describe() == "10 users (p95 1500 ms over 1000 ms at 50 users)"
    old = loadstats.Knee(None, True, 1000.0, 0.01)  # a file written before the reason was recorded
    assert old.describe() == "below the smallest step (p95 over 1000 ms or failures over 1%)"


@pytest.fixture
def limited_target() -> Iterator[Target]:
    """A PostgreSQL role allowed 4 connections, owning a scratch database with the small fixture (all dropped).

    dbbench itself holds two during a load test (its lock and its Django connection): the site gets two.
    """
    from dbbench.backends.targets import parse_target

    postgres = next((t for t in TARGETS if t.family == "postgresql"), None)
    if postgres is None:
        pytest.skip("no PostgreSQL target")
    database = f"{postgres.database}_lim{os.getpid()}_{time.monotonic_ns() % 10**6}"
    with scratch_user(postgres, createdb=True) as (role, password):
        limited = parse_target("limited", url_for(postgres, role, password, database))
        yield from _limited(postgres, limited, role, database)


def _limited(postgres: Target, limited: Target, role: str, database: str) -> Iterator[Target]:
    try:
        load_small_fixture([limited])
        admin_sql(postgres, f"ALTER ROLE {role} CONNECTION LIMIT 4")
        yield limited
    finally:
        admin_sql(postgres, f"ALTER ROLE {role} CONNECTION LIMIT -1")
        drop_database(limited)
        admin_sql(postgres, f"DROP DATABASE IF EXISTS {database}")


@pytest.mark.slow
def test_a_database_out_of_connections_fails_the_run_and_says_why(limited_target: Target, tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    result = run_cli(
        "load", "--target", f"limited={limited_target.url}", "--attempts", "0", "--users", "8,16",
        "--duration", "3s", "--think", "0-0.2", "--spawn-rate", "100", "--conn-max-age", "0", "--workers", "6",
        "--variants", "limited-cma0",
        "--output", str(out),
        timeout=180,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "too many connections for role" in result.stderr  # PostgreSQL's own words, from the site's log
    assert "over the --max-failure-rate limit of 1%" in result.stderr
    assert "Traceback" not in result.stderr
    run = _runs(out)[0]
    assert run["status"] == "failed"
    step = run["steps"][0]
    assert step["failure_kinds"]["http_5xx"] > 0.01 * step["requests"]
    assert "too many connections for role" in step["server_error"]
    assert len(run["steps"]) == 1  # the sweep stops: bigger steps would measure a broken site
    knee = loadstats.Knee(**run["knee"])
    assert knee.reason == "failures" and "p95" not in knee.describe()
    assert "failures" in result.stdout.split("knee of")[1]
