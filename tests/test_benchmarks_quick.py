"""The benchmark suite's quick profile, run the way a user runs it (``dbbench bench``) on every live backend.

CI proves here that every operation and variant works on every backend and that the JSON describes itself; the
real sizes are not run in CI. The run uses its own databases (``<database>_bq``), dropped afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest

from dbbench.backends.database import drop_database
from dbbench.backends.targets import Target, baseline
from dbbench.bench.measure import rotation
from dbbench.bench.runner import (
    CONTROL_OPERATIONS,
    PROFILES,
    Profile,
    buffer_warning,
    pytest_command,
    sized_database,
)
from dbbench.bench.workloads import OPERATIONS
from dbbench.doctor import server_info
from dbbench.report.sections import seeding_text
from dbbench.results import load_result
from tests.helpers import ROOT, TARGETS, run_cli

QUICK_SIZES = (1_000, 2_000)
BASELINE = baseline(TARGETS).name  # as the run picks it (no StopIteration at import without a PostgreSQL target)
CONTROL = f"{BASELINE}_control"


def test_rounds_follow_the_time_budget_within_bounds() -> None:
    p = Profile("t", (10,), warmup=1, warmup_budget_s=1, min_rounds=50, max_rounds=1_000, budget_s=4.0)
    assert p.rounds_for(0.000_2) == 1_000  # 20,000 would fit: capped
    assert p.rounds_for(0.01) == 400
    assert p.rounds_for(0.5) == 50  # 8 would fit: p95 needs more
    assert p.rounds_for(0.0) == 1_000
    # With a cap: a slow call gets what fits in it over all backends, never fewer than slow_rounds.
    capped = Profile("t", (10,), warmup=1, warmup_budget_s=1, min_rounds=50, max_rounds=1_000, budget_s=4.0, cap_s=8.0)
    assert capped.rounds_for(0.01, 3) == 266  # 400 for the budget, 8 s / (3 x 10 ms) = 266
    assert capped.rounds_for(0.5, 2) == 10  # 8 would fit: slow_rounds
    assert capped.rounds_for(0.000_2, 3) == 1_000
    assert PROFILES["quick"].sizes == QUICK_SIZES
    assert PROFILES["default"].sizes == (10_000, 100_000, 1_000_000)


def test_buffer_warning_only_when_the_data_outgrows_the_buffer() -> None:
    assert buffer_warning("mysql", "MariaDB", 100_000, 21 * 2**20, 128 * 2**20) is None
    text = buffer_warning("mysql", "MariaDB", 1_000_000, 208 * 2**20, 128 * 2**20)
    assert text is not None
    assert text.startswith(
        "mysql (MariaDB): the attempt data at 1m attempts (208 MiB) does not fit its buffer (128 MiB)"
    )


@pytest.fixture(scope="module")
def bench_targets() -> Iterator[list[Target]]:
    """Every configured target, on a database of its own for this module (dropped before and after)."""
    targets = [t.with_database(f"{t.database}_bq") for t in TARGETS]
    for t in targets:
        drop_database(t)  # a leftover from an interrupted run (only ever a dbbench-owned one)
    yield targets
    for t in targets:
        drop_database(t)


def _env(targets: list[Target]) -> dict[str, str]:
    return {"DBBENCH_TARGETS": ",".join(f"{t.name}={t.url}" for t in targets)}


@pytest.fixture(scope="module")
def quick_run(bench_targets: list[Target], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    proc = run_cli("bench", "--profile", "quick", "--output-dir", str(out), env=_env(bench_targets), timeout=170)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path,) = out.glob("benchmarks-quick-*.json")
    assert f"benchmarks: {path}" in proc.stdout
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {"path": path, "doc": doc, "stdout": proc.stdout, "stderr": proc.stderr}


PROGRESS_LINE = re.compile(
    r'^progress stage=benchmarks step="(?P<step>[^"]+)" done=(?P<done>\d+)/(?P<total>\d+) '
    r"elapsed_s=\d+ eta_s=\d+$"
)


@pytest.mark.slow
def test_progress_in_a_log_is_a_plain_line_with_the_step_and_time_left(quick_run: dict[str, Any]) -> None:
    # No terminal here (output captured, as in CI or a log): plain lines on stderr, no pytest dots on stdout.
    lines = [line for line in quick_run["stderr"].splitlines() if line.startswith("progress ")]
    assert lines, quick_run["stderr"][-2000:]
    matches = [PROGRESS_LINE.match(line) for line in lines]
    assert all(matches), lines
    steps = [m["step"] for m in matches if m]
    assert all(re.match(r"^(seeding )?(1k|2k) attempts", step) for step in steps), steps
    assert all(any(f": {op} (" in step for op in OPERATIONS) or step.startswith("seeding") for step in steps), steps
    done = [int(m["done"]) for m in matches if m]
    assert done == sorted(done) and all(int(m["total"]) == int(matches[0]["total"]) for m in matches if m)
    assert not re.search(r"^\.{5,}", quick_run["stdout"], re.MULTILINE), "pytest's dots are back"


@pytest.mark.slow
def test_quick_profile_measures_every_operation_variant_size_and_backend(quick_run: dict[str, Any]) -> None:
    found = [
        (i["size"], i["operation"], i["variant"], i["alias"])
        for i in (b["extra_info"]["dbbench"] for b in quick_run["doc"]["benchmarks"])
    ]
    expected = {
        (size, name, variant, t.name)
        for size in QUICK_SIZES
        for name, op in OPERATIONS.items()
        for variant in op.variants
        for t in TARGETS
    }
    # The run's control: the baseline again, on the operations that carry most of the mix (orm and raw each).
    control = {
        (size, name, variant, CONTROL)
        for size in QUICK_SIZES
        for name in CONTROL_OPERATIONS
        for variant in OPERATIONS[name].variants
    }
    assert len(control) == 6 * len(QUICK_SIZES)
    assert len(found) == len(set(found)) == len(expected | control) == (20 * len(TARGETS) + 6) * len(QUICK_SIZES)
    assert set(found) == expected | control
    assert quick_run["doc"]["dbbench_run"]["control"] == {"alias": CONTROL, "of": BASELINE}
    assert {i["control_of"] for i in (b["extra_info"]["dbbench"] for b in quick_run["doc"]["benchmarks"])} == {
        None,
        BASELINE,
    }


def test_rounds_rotate_so_no_backend_always_goes_first() -> None:
    assert [rotation(["a", "b"], r) for r in range(3)] == [["a", "b"], ["b", "a"], ["a", "b"]]
    orders = [rotation(["a", "b", "c"], r) for r in range(3)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    assert all(sorted(o[i] for o in orders) == ["a", "b", "c"] for i in range(3))  # each place taken by each


@pytest.mark.slow
def test_sizes_grow_and_backends_are_measured_together(quick_run: dict[str, Any]) -> None:
    infos = [b["extra_info"]["dbbench"] for b in quick_run["doc"]["benchmarks"]]
    assert [i["size"] for i in infos] == sorted(i["size"] for i in infos)
    runs = [key for key, _ in groupby(infos, key=lambda i: (i["size"], i["operation"], i["variant"]))]
    assert len(runs) == len(set(runs))  # each (size, operation, variant) is one uninterrupted block of backends
    assert [i["operation"] for i in infos[: 2 * len(TARGETS)]] == ["insert_attempt"] * (2 * len(TARGETS))
    aliases = {t.name for t in TARGETS}
    for i in infos:
        together = aliases | ({CONTROL} if i["operation"] in CONTROL_OPERATIONS else set())
        assert set(i["interleaved_with"]) == together - {i["alias"]}, i


@pytest.mark.slow
def test_handed_over_timings_are_the_database_calls(quick_run: dict[str, Any]) -> None:
    # pytest-benchmark gets the interleaved timings through its timer: had that hand-over broken, it would have
    # timed the stand-in that returns the stored result (well under a microsecond). A loopback round trip to a
    # database server takes tens of microseconds at the very least.
    for bench in quick_run["doc"]["benchmarks"]:
        if bench["extra_info"]["dbbench"]["operation"] == "pk_lookup":
            assert min(bench["stats"]["data"]) > 10e-6, bench["name"]


@pytest.mark.slow
def test_every_result_describes_itself(quick_run: dict[str, Any], bench_targets: list[Target]) -> None:
    servers = {t.name: server_info(t) for t in bench_targets}
    servers[CONTROL] = servers[BASELINE]
    inserted: dict[tuple[int, str, str, str], list[int]] = {}
    for bench in quick_run["doc"]["benchmarks"]:
        info = bench["extra_info"]["dbbench"]
        server = servers[info["alias"]]
        assert (info["vendor"], info["version"]) == (server.vendor, server.version), bench["name"]
        assert info["server"]["buffer_bytes"] == server.buffer_bytes > 0
        assert info["server"]["durable"] == server.durable
        assert info["rows"] == info["size"] and info["seed"] == 42
        assert info["data_bytes"] > 0 and info["fits_in_buffer"] == (info["data_bytes"] <= server.buffer_bytes)
        data = bench["stats"]["data"]
        assert len(data) == bench["stats"]["rounds"] == info["rounds"] >= PROFILES["quick"].min_rounds
        assert all(t > 0 for t in data) and info["warmup_rounds"] >= 1
        # The control shares the baseline's database: the two remove each other's rows, so only their sum is exact.
        shared = info["alias"] in (BASELINE, CONTROL) and info["operation"] in CONTROL_OPERATIONS
        key = "shared" if shared else info["alias"]
        calls = info["rounds"] + info["warmup_rounds"]
        group = inserted.setdefault((info["size"], info["operation"], info["variant"], key), [0, 0])
        group[0] += info["rows_inserted"]
        group[1] += OPERATIONS[info["operation"]].inserts * calls
    assert all(removed == added for removed, added in inserted.values()), inserted
    assert {s.vendor for s in servers.values()} <= {"PostgreSQL", "MariaDB", "MySQL"}
    run = quick_run["doc"]["dbbench_run"]
    assert (run["profile"], run["sizes"], run["seed"]) == ("quick", list(QUICK_SIZES), 42)


@pytest.mark.slow
def test_the_data_is_exactly_the_seeded_data_afterwards(quick_run: dict[str, Any], bench_targets: list[Target]) -> None:
    sums = {}
    for target in bench_targets:
        with target.spec.connection(target, target.database) as conn:
            cur = conn.cursor()
            cur.execute("SELECT COUNT(*), MAX(id), SUM(score) FROM quiz_quizattempt")
            count, last, total = cur.fetchone()
        assert (count, last) == (QUICK_SIZES[-1], QUICK_SIZES[-1]), target.name  # benchmark rows removed
        sums[target.name] = int(total)
    assert len(set(sums.values())) == 1, sums  # regrades put back: the same seeded scores everywhere


@pytest.mark.slow
def test_one_database_under_two_names_keeps_its_data(quick_run: dict[str, Any], bench_targets: list[Target]) -> None:
    """The control (one database, two aliases) interleaves writes into one table: it must still end as seeded."""
    reference = next(t for t in bench_targets if t.family == "postgresql")
    control = reference.with_database(f"{reference.database}c")
    drop_database(control)
    env = {**os.environ, "DBBENCH_TARGETS": f"a={control.url},b={control.url}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = pytest_command(quick_run["path"].parent / "control.json", "quick", QUICK_SIZES, 42)
    try:
        proc = subprocess.run(
            [*command, "-k", "insert or update_attempt"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=170
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        found = []
        for target in (reference, control):
            with target.spec.connection(target, target.database) as conn:
                cur = conn.cursor()
                cur.execute("SELECT COUNT(*), MAX(id), SUM(score) FROM quiz_quizattempt")
                found.append(cur.fetchone())
        assert found[1] == found[0], f"{control.database} {found[1]}, seeded {found[0]}"
    finally:
        drop_database(control)


@pytest.mark.slow
def test_kept_sizes_are_measured_again_without_seeding(tmp_path: Path) -> None:
    """--keep-sizes: the smaller size gets a database of its own, the largest stays in the target's; a second run
    finds both seeded (nothing added) and measures the same data, with the control following its baseline."""
    targets = [t.with_database(f"{t.database}_bk") for t in TARGETS]
    kept = [t.with_database(sized_database(t.database, 1_000, 2_000)) for t in targets]
    assert [k.database for k in kept] == [f"{t.database}_1k" for t in targets]
    control = f"{BASELINE}_control"
    base = next(t for t in targets if t.name == BASELINE)
    urls = [*(f"{t.name}={t.url}" for t in targets), f"{control}={base.url}"]
    env = {**os.environ, "DBBENCH_TARGETS": ",".join(urls)}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def run(name: str) -> dict[str, Any]:
        path = tmp_path / f"{name}.json"
        command = pytest_command(path, "quick", QUICK_SIZES, 42, keep_sizes=True)
        command += [f"--dbbench-control={control}={BASELINE}", "-k", "pk_lookup"]
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return json.loads(path.read_text(encoding="utf-8"))

    try:
        first, second = run("first"), run("second")
        where = {(e["alias"], e["size"]): e["database"] for e in first["dbbench_run"]["seeded"]}
        assert where == {
            **{(t.name, 1_000): k.database for t, k in zip(targets, kept, strict=True)},
            **{(t.name, 2_000): t.database for t in targets},
        }
        assert {e["added"] for e in first["dbbench_run"]["seeded"]} == set(QUICK_SIZES)
        assert {e["added"] for e in second["dbbench_run"]["seeded"]} == {0}  # both sizes were there
        assert "1k, 2k kept from an earlier run" in seeding_text(second["dbbench_run"])
        for k in kept:
            with k.spec.connection(k, k.database) as conn:
                cur = conn.cursor()
                cur.execute("SELECT COUNT(*) FROM quiz_quizattempt")
                assert cur.fetchone()[0] == 1_000
        # Every backend, the control included, was measured on each size's data (pk_lookup reads the rows).
        rows = {(b["extra_info"]["dbbench"]["alias"], b["extra_info"]["dbbench"]["rows"]) for b in second["benchmarks"]}
        assert rows == {(a, n) for a in [*(t.name for t in targets), control] for n in QUICK_SIZES}
    finally:
        for t in [*targets, *kept]:
            drop_database(t)


@pytest.mark.slow
def test_results_load_in_dbbench_and_pytest_benchmark_compare(quick_run: dict[str, Any]) -> None:
    kind, _ = load_result(quick_run["path"])
    assert kind == "benchmark"
    compare = subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", str(quick_run["path"]), "--group-by=group"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert compare.returncode == 0, compare.stderr
    assert "1k pk_lookup" in compare.stdout


def test_bad_sizes_are_one_line_errors_and_write_nothing(tmp_path: Path) -> None:
    proc = run_cli("bench", "--sizes", "10k,0", "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["dbbench: error: bad size '0': must be at least 1"]
    assert not (tmp_path / "out").exists()


def test_unreachable_server_is_one_line_without_password(tmp_path: Path) -> None:
    proc = run_cli(
        "bench", "--target", "pg=postgres://postgres:s3cret@127.0.0.1:1/dbbench_x", "--output-dir", str(tmp_path / "o")
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dbbench: error: pg: cannot connect to postgres://postgres:***@")
    assert "s3cret" not in proc.stderr + proc.stdout
    assert not (tmp_path / "o").exists()
