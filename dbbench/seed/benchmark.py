"""``dbbench seed-benchmark``: the seeder's speed held against the raw fast path of the very same rows.

For each target, in a scratch database of dbbench's own (``<database>_seedbench``, dropped afterwards):

1. seed N attempts from empty in a fresh process (``python -m dbbench seed --json``), which reports its rate and
   its own peak RSS (a separate process, so nothing else inflates the figure);
2. empty the attempts table and time COPY / LOAD DATA LOCAL INFILE of the same N rows, rendered to files
   beforehand, through the raw driver: once as one statement, once in the seeder's batches back to back (no
   Python in between), and once in as many streams as the seeder loads with, each taking its share of every
   batch; the fastest is the server's fastest-path rate for these rows, same table, same run.
   Measured the way the seeder loads from empty: without the table's secondary indexes and foreign keys, then
   building and checking them (timed too), so both end at the same table and the ratio compares like with like;
3. ratio = seeding rate / raw rate. The issue's target is >= 0.60 with peak RSS <= 300 MB.

Before each timed step the server is quiesced (PostgreSQL: CHECKPOINT; InnoDB: dirty pages down to 1% of the
buffer pool), so no step pays for the writes of the one before. Other processes on the machine slow every step;
the load average before and after is recorded with the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dbbench import doctor
from dbbench.backends import bulkload
from dbbench.backends.database import drop_database, ensure_database, exclusive, held_locks_env, is_owned
from dbbench.backends.targets import ENV_TARGETS, Target
from dbbench.errors import ConfigError, DbbenchError, StageFailed, one_line
from dbbench.results import DEFAULT_RESULTS_DIR, stamp, write_result
from dbbench.seed import STREAMS, datagen
from dbbench.seed.seeding import BATCH_ROWS, preflight

KIND = "seed-benchmark"
TARGET_RATIO = 0.60
RSS_LIMIT_BYTES = 300 * 2**20
QUIESCE_TIMEOUT_S = 120.0


def scratch_target(target: Target) -> Target:
    return target.with_database(f"{target.database}_seedbench")


def run_seed_benchmark(
    targets: list[Target],
    attempts: int,
    *,
    seed: int = 42,
    checksum: bool = False,
    batch_rows: int = BATCH_ROWS,
    streams: int = STREAMS,
    keep_database: bool = False,
) -> dict[str, Any]:
    """Measure every target (one after the other); returns the result document's ``data``."""
    scratches = [scratch_target(t) for t in targets]
    preflight(scratches)  # servers up, scratch names not somebody else's: before writing anywhere
    for scratch in scratches:
        _check_bulk_load(scratch)
    data: dict[str, Any] = {
        "attempts": attempts,
        "seed": seed,
        "batch_rows": batch_rows,
        "streams": streams,
        "target_ratio": TARGET_RATIO,
        "rss_limit_bytes": RSS_LIMIT_BYTES,
        "loadavg_before": list(os.getloadavg()),
        "targets": [],
    }
    for scratch in scratches:
        # Held across the seeding child (it inherits the lock) and the raw loads; released after the drop.
        with exclusive(scratch, "a seed benchmark"):
            if is_owned(scratch):
                drop_database(scratch)  # a leftover of an interrupted run: start from empty
            # Privileges first (CREATE DATABASE, the server's bulk load), not after minutes of waiting for the
            # server to quiesce and seeding: a refusal comes at once, in one line.
            try:
                ensure_database(scratch)
            except scratch.spec.driver_errors as exc:
                raise ConfigError(
                    f"{scratch.name}: cannot create {scratch.database}: {one_line(exc, [scratch])}"
                ) from None
            try:
                data["targets"].append(_measure(scratch, attempts, seed, checksum, batch_rows, streams))
            finally:
                if not keep_database:
                    drop_database(scratch)
    data["loadavg_after"] = list(os.getloadavg())
    return data


def _check_bulk_load(scratch: Target) -> None:
    with scratch.spec.connection(scratch, None) as conn:  # a server setting: the database may not exist yet
        if not scratch.spec.bulk_load_available(conn.cursor()):
            raise ConfigError(
                f"{scratch.name}: the server does not allow {scratch.spec.bulk_load_name}, the raw load this "
                "benchmark compares the seeder with"
            )


def _measure(
    scratch: Target, attempts: int, seed: int, checksum: bool, batch_rows: int, streams: int
) -> dict[str, Any]:
    quiesced = [_quiesce(scratch)]
    seeded = _seed_in_subprocess(scratch, attempts, seed, checksum, batch_rows, streams)
    raw = _raw_load(scratch, attempts, seed, batch_rows, streams)
    if raw["rows"] != attempts:
        raise DbbenchError(f"{scratch.name}: the raw load took {raw['rows']} of {attempts} rows")
    ratio = seeded["rows_per_s"] / raw["rows_per_s"] if raw["rows_per_s"] else 0.0
    return {
        "alias": scratch.name,
        "url": scratch.safe_url,
        "server": doctor.server_info(scratch).as_dict(),
        "seed": seeded,
        "raw": raw,
        "ratio": round(ratio, 3),
        "ratio_met": ratio >= TARGET_RATIO,
        "peak_rss_bytes": seeded["peak_rss_bytes"],
        "rss_met": seeded["peak_rss_bytes"] <= RSS_LIMIT_BYTES,
        "quiesce_seconds": [round(s, 1) for s in quiesced + raw.pop("quiesce_seconds")],
    }


def _seed_in_subprocess(
    scratch: Target, attempts: int, seed: int, checksum: bool, batch_rows: int, streams: int
) -> dict[str, Any]:
    # The URL goes through the environment, not argv, where any user could read a password in the process list.
    env = {**os.environ, ENV_TARGETS: f"{scratch.name}={scratch.url}", **held_locks_env()}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = [sys.executable, "-m", "dbbench", "seed", "--json", f"--attempts={attempts}", f"--seed={seed}"]
    command += [f"--batch-rows={batch_rows}", f"--streams={streams}"] + (["--checksum"] if checksum else [])
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise StageFailed(f"{scratch.name}: seeding failed (exit {proc.returncode}); see the message above")
    (result,) = json.loads(proc.stdout)
    return dict(result)


def _raw_load(scratch: Target, attempts: int, seed: int, batch_rows: int, streams: int) -> dict[str, Any]:
    """Time the fast path on the same attempt rows, emptied table each time (students and quizzes stay).

    Up to three ways, and the fastest counts: one statement for all rows; the seeder's batches back to back (one
    transaction each, no Python in between; a single huge LOAD DATA is not MariaDB's fastest path); and each batch
    split into ``streams`` parts, stream i loading part i of every batch on a connection of its own.
    """
    gen = datagen.DataGenerator(seed)
    signups = gen.signups(datagen.students_for(attempts))
    with tempfile.TemporaryDirectory(prefix="dbbench-seedbench-") as folder:
        whole = Path(folder) / "attempts.tsv"
        with whole.open("wb") as handle:
            for chunk in gen.attempt_chunks(0, attempts, signups):
                handle.write(chunk)
        plans: list[tuple[str, int, int]] = [("single", 0, 1), ("batched", batch_rows, 1)]  # way, rows per file
        if streams > 1:
            plans.append(("streams", -(-batch_rows // streams), streams))
        ways: dict[str, Any] = {}
        waits: list[float] = []
        for way, rows, count in plans:
            # Each way's pieces only while it is timed: at most twice the data on disk at any moment.
            parts = _split(whole, rows, way) if rows else [whole]
            _truncate(scratch)
            _defer_constraints(scratch)
            waits.append(_quiesce(scratch))
            ways[way] = _time_loads(scratch, [parts[i::count] for i in range(count)])
            for part in parts:
                if part != whole:
                    part.unlink()
        size = whole.stat().st_size
    best = max(ways, key=lambda way: ways[way]["rows_per_s"])
    return {
        "method": scratch.spec.bulk_load_name,
        "bytes": size,
        "best": best,
        **ways[best],
        "ways": ways,
        "quiesce_seconds": waits,
    }


def _defer_constraints(scratch: Target) -> None:
    """Drop the secondary indexes and foreign keys as the seeder does from empty (rebuilt in _time_loads)."""
    with scratch.spec.connection(scratch, scratch.database) as conn:
        bulkload.defer_constraints(scratch.spec, conn.cursor(), "quiz_quizattempt")


def _truncate(scratch: Target) -> None:
    with scratch.spec.connection(scratch, scratch.database) as conn:
        conn.cursor().execute(f"TRUNCATE TABLE {scratch.spec.quote_name('quiz_quizattempt')}")


def _quiesce(scratch: Target) -> float:
    """Before each timed step: the server writes out what the previous step (or anybody) left dirty."""
    with scratch.spec.connection(scratch, None) as conn:  # server-wide; the database may not exist yet
        return scratch.spec.quiesce(conn.cursor(), QUIESCE_TIMEOUT_S)


def _split(path: Path, rows: int, label: str) -> list[Path]:
    parts: list[Path] = []
    with path.open("rb") as source:
        while True:
            lines = [line for _, line in zip(range(rows), source, strict=False)]
            if not lines:
                return parts
            parts.append(path.with_name(f"{label}{len(parts):05d}.tsv"))
            parts[-1].write_bytes(b"".join(lines))


def _load_files(scratch: Target, paths: list[Path]) -> int:
    spec = scratch.spec
    with spec.connection(scratch, scratch.database) as conn:  # autocommit: one transaction per statement
        cur = conn.cursor()
        return sum(spec.bulk_load(cur, "quiz_quizattempt", datagen.ATTEMPT_COLUMNS, str(path)) for path in paths)


def _time_loads(scratch: Target, streams: list[list[Path]]) -> dict[str, Any]:
    """Each stream's files back to back on a connection of its own, the streams at once; then the rebuild."""
    spec = scratch.spec
    with spec.connection(scratch, scratch.database) as conn:
        cur = conn.cursor()
        if not spec.bulk_load_available(cur):
            raise DbbenchError(f"{scratch.name}: the server does not allow {spec.bulk_load_name}")
        with ThreadPoolExecutor(max_workers=len(streams)) as pool:
            started = time.perf_counter()
            loaded = sum(pool.map(lambda paths: _load_files(scratch, paths), streams))
            loading = time.perf_counter() - started
        rebuilt = bulkload.rebuild_constraints(spec, cur)
        seconds = time.perf_counter() - started
    return {
        "streams": len(streams),
        "statements": sum(len(paths) for paths in streams),
        "rows": loaded,
        "seconds": round(seconds, 3),
        "rows_per_s": round(loaded / seconds, 1),
        "rebuilt": rebuilt,
        "rebuild_seconds": round(seconds - loading, 3),
    }


def render(data: dict[str, Any]) -> str:
    lines = [
        f"seed-benchmark: {data['attempts']} attempts, seed {data['seed']}, batches of {data['batch_rows']}; "
        f"load average before/after: {data['loadavg_before'][0]:.2f}/{data['loadavg_after'][0]:.2f} "
        f"on {os.cpu_count()} CPUs"
    ]
    for t in data["targets"]:
        seeded, raw, server = t["seed"], t["raw"], t["server"]
        lines.append(
            f"{t['alias']} ({server['vendor']} {server['version']}): "
            f"seeding {seeded['rows_per_s']:,.0f} rows/s ({seeded['seconds']:.1f} s, {seeded['method']}"
            f"{_in_streams(seeded.get('streams', 1))}); "
            f"raw {raw['method']} of the same rows {raw['rows_per_s']:,.0f} rows/s ({raw['seconds']:.1f} s, "
            f"{_ways(raw)}; {_rebuilds(seeded, raw)}); "
            f"ratio {t['ratio']:.2f} (target >= {data['target_ratio']:.2f}: {'met' if t['ratio_met'] else 'NOT met'}); "
            f"peak RSS {t['peak_rss_bytes'] / 2**20:.0f} MB "
            f"(limit {data['rss_limit_bytes'] / 2**20:.0f} MB: {'met' if t['rss_met'] else 'NOT met'}; "
            f"plus up to 2 x {seeded['batch_file_bytes'] / 2**20:.0f} MB of in-memory batch files)"
        )
        for table, value in (seeded.get("checksums") or {}).items():
            lines.append(f"  checksum {table}={value}")
    return "\n".join(lines)


def _in_streams(streams: int) -> str:
    return f" in {streams} streams" if streams > 1 else ""


def _rebuilds(seeded: dict[str, Any], raw: dict[str, Any]) -> str:
    if not raw.get("rebuilt"):
        return "with the indexes and foreign keys in place"
    return (
        f"both without the {raw['rebuilt']} secondary indexes and foreign keys, built and checked afterwards in "
        f"{raw['rebuild_seconds']:.1f} s raw, {seeded.get('rebuild_seconds', 0):.1f} s seeding"
    )


def _ways(raw: dict[str, Any]) -> str:
    ways = raw["ways"]
    shown = [f"one statement {ways['single']['rows_per_s']:,.0f}"]
    shown.append(f"{ways['batched']['statements']} batches {ways['batched']['rows_per_s']:,.0f}")
    if "streams" in ways:
        shown.append(f"the batches in {ways['streams']['streams']} streams {ways['streams']['rows_per_s']:,.0f}")
    return f"best of {', '.join(shown[:-1])} and {shown[-1]} rows/s"


def write(data: dict[str, Any], path: Path | None = None) -> Path:
    if path is None:
        path = DEFAULT_RESULTS_DIR / f"seed-benchmark-{stamp()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_result(path, KIND, data)
