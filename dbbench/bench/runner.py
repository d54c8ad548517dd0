"""Run the benchmark suite (``benchmarks/``) in a pytest subprocess and say where its JSON went.

The suite itself is pytest-benchmark code; this module holds what it shares with the CLI and the pipeline: the
profiles (sizes, warm-up and rounds), the buffer check, the small database chores between sizes, and
:func:`run_benchmarks`. Nothing here imports pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dbbench.backends.database import MARKER_TABLE, ensure_database, exclusive_all, held_locks_env, is_owned
from dbbench.backends.targets import ENV_TARGETS, Target
from dbbench.backends.targets import baseline as baseline_of
from dbbench.errors import ConfigError, ForeignDatabaseError, ResultsError, StageFailed, mask_secrets
from dbbench.quiz import ATTEMPT_TABLE, QUIZ_TABLES
from dbbench.results import DEFAULT_RESULTS_DIR, stamp
from dbbench.seed import DEFAULT_SEED
from dbbench.units import format_count

DEFAULT_OUTPUT_DIR = DEFAULT_RESULTS_DIR / "benchmarks"
SUITE_DIR = Path(__file__).resolve().parent / "suite"
# The suite's own pytest configuration: a run never picks up the configuration of the folder it starts in.
SUITE_INI = SUITE_DIR / "pytest.ini"


@dataclass(frozen=True)
class Profile:
    """How much to measure.

    Each benchmark first runs warm-up rounds (at most ``warmup``, and no longer than ``warmup_budget_s``), whose
    median time per call sets the first batch of rounds: as many as fit in ``budget_s``, but never fewer than
    ``min_rounds`` (so p95 and p99 rest on enough samples) nor more than ``max_rounds``. Then rounds go on in
    batches until every backend's ratio to the baseline has a 95% interval narrower than ``precision`` (relative
    to the ratio), or until the operation has taken ``cap_s`` of measuring, or ``max_rounds`` are done.
    """

    name: str
    sizes: tuple[int, ...]
    warmup: int
    warmup_budget_s: float
    min_rounds: int
    max_rounds: int
    budget_s: float
    precision: float = 0.05  # the practical threshold: an interval narrower than this decides
    cap_s: float = 0.0  # per-operation cap on measuring (all backends); 0: the first batch only
    slow_rounds: int = 10  # the fewest rounds of an operation so slow that min_rounds would pass cap_s
    summary: str = ""  # one line for the docs, whose profile table is generated from here (scripts/docs_facts.py)

    def rounds_for(self, seconds_per_call: float, backends: int = 1) -> int:
        """The first batch's rounds: ``budget_s`` worth, within the bounds; for a call so slow (a JSON scan at
        1M attempts takes seconds) that ``min_rounds`` of every backend would pass ``cap_s``, what fits in
        ``cap_s``, but at least ``slow_rounds`` (the interval still needs a few samples)."""
        if seconds_per_call <= 0:
            return self.max_rounds
        rounds = max(self.min_rounds, min(self.max_rounds, int(self.budget_s / seconds_per_call)))
        if self.cap_s:
            rounds = min(rounds, max(self.slow_rounds, int(self.cap_s / (seconds_per_call * backends))))
        return rounds


PROFILES: dict[str, Profile] = {
    # CI proves every benchmark works on every backend: tiny data, a handful of rounds.
    "quick": Profile(
        "quick",
        (1_000, 2_000),
        warmup=1,
        warmup_budget_s=0.2,
        min_rounds=3,
        max_rounds=5,
        budget_s=0.05,
        summary="a first look in a few minutes: tiny data, a handful of rounds (too few for firm labels)",
    ),
    # A first batch of about half a second per backend, then more until the interval is tight or 4 s have gone
    # (an operation at 1M that takes seconds per call: 5 rounds). 1M is where the data outgrows memory on a small
    # server and the engines part (an index's reach, a JSON scan). Sized so that `dbbench run` fits in 20 minutes
    # on 2 cores; `full` measures longer.
    "default": Profile(
        "default",
        (10_000, 100_000, 1_000_000),
        warmup=10,
        warmup_budget_s=0.5,
        min_rounds=50,
        max_rounds=20_000,
        budget_s=0.6,
        cap_s=4.0,
        slow_rounds=5,
        summary="the comparison `make run` makes: three sizes up to 1M attempts, rounds until the interval is tight",
    ),
    "full": Profile(
        "full",
        (10_000, 100_000, 1_000_000, 10_000_000),
        warmup=20,
        warmup_budget_s=5.0,
        min_rounds=30,
        max_rounds=40_000,
        budget_s=4.0,
        cap_s=30.0,
        summary="up to 10M attempts and longer caps: hours",
    ),
}
# The reads that carry most of the default mix (61%): the control measures the baseline again on these. Not the
# writes: on one shared database the second writer meets the first one's WAL flushes and new rows (the control of
# submit_quiz strayed 8% and 19% from itself in two quiet runs), so it would measure the sharing, not the noise.
CONTROL_OPERATIONS = ("student_recent", "pk_lookup", "leaderboard")


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r} (choose from: {', '.join(PROFILES)})") from None


# --- the buffer check -----------------------------------------------------------------------------------------


def buffer_warning(alias: str, vendor: str, size: int, data_bytes: int, buffer_bytes: int) -> str | None:
    """A warning when the attempts (table + indexes) outgrow the server's buffer, else None."""
    if buffer_bytes <= 0 or data_bytes <= buffer_bytes:
        return None
    return (
        f"{alias} ({vendor}): the attempt data at {format_count(size)} attempts ({data_bytes / 2**20:.0f} MiB) "
        f"does not fit its buffer ({buffer_bytes / 2**20:.0f} MiB): reads at this size measure cache misses and "
        "configuration, not only the engine (give both servers equal, larger buffers: see docker-compose.yml)"
    )


# --- chores between sizes (raw driver, the target's own database) ----------------------------------------------


def settle(target: Target) -> None:
    """Compact the quiz tables and refresh their statistics, so each size starts from what a fresh load gives.

    Without it, a database that held more attempts before (the seeder shrinks by DELETE) or that saw rows come
    and go keeps their space: PostgreSQL's table at 10k attempts was measured at 317 MiB after a 100k run.
    """
    spec = target.spec
    with spec.connection(target, target.database) as conn:
        cur = conn.cursor()
        for table in QUIZ_TABLES:
            for statement in spec.settle_sql(table):
                cur.execute(statement)
                if cur.description:  # OPTIMIZE TABLE answers with a result set that must be read
                    cur.fetchall()


def attempt_table_bytes(target: Target) -> int:
    """Bytes of the attempt table with its indexes, as the server counts them."""
    spec = target.spec
    with spec.connection(target, target.database) as conn:
        cur = conn.cursor()
        cur.execute(spec.table_bytes_sql(), (ATTEMPT_TABLE,))
        row = cur.fetchone()
    return int(row[0] or 0) if row else 0


# --- running the suite -------------------------------------------------------------------------------------------


def sized_database(database: str, size: int, largest: int) -> str:
    """Where the data at ``size`` lives when seeded sizes are kept (``keep_sizes``): the largest size in the
    target's own database (what the load test and the rehearsal use after the benchmarks), each smaller one in a
    database of its own beside it, e.g. ``dbbench_10k``."""
    return database if size >= largest else f"{database}_{format_count(size)}"


def _check_sized(sized: Target) -> None:
    """A kept size's database (``dbbench_10k``) is dbbench's or does not exist yet: one of the user's own by that
    name, with tables or without, is refused in one line here (each benchmark of the suite failed on it, or an
    empty one was silently taken over)."""
    spec = sized.spec
    with spec.connection(sized, None) as conn:
        cur = conn.cursor()
        cur.execute(spec.database_exists_sql(), (sized.database,))
        if cur.fetchone() is None:
            return
    if not is_owned(sized):
        raise ForeignDatabaseError(
            f"{sized.name}: database {sized.database!r} on {sized.host}:{sized.port} exists but is not dbbench's "
            f"(no {MARKER_TABLE} marker); --keep-sizes keeps a size there: drop or rename it, or run without "
            "--keep-sizes"
        )


def pytest_command(
    output_json: Path,
    profile: str,
    sizes: Sequence[int],
    seed: int,
    *,
    allow_foreign: bool = False,
    keep_sizes: bool = False,
) -> list[str]:
    """The pytest command line that runs the suite and writes its JSON (raw timings included) to ``output_json``."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(SUITE_DIR),
        f"--config-file={SUITE_INI}",
        f"--rootdir={SUITE_DIR}",
        "--benchmark-only",
        f"--benchmark-json={output_json}",
        "--benchmark-save-data",
        "--benchmark-group-by=group",
        "--benchmark-sort=name",
        "--benchmark-columns=min,median,mean,max,rounds",
        f"--dbbench-profile={profile}",
        f"--dbbench-sizes={','.join(str(s) for s in sizes)}",
        f"--dbbench-seed={seed}",
        "--ds=dbbench.settings.all",
        "-q",
    ]
    if allow_foreign:
        command.append("--dbbench-allow-foreign-database")
    if keep_sizes:
        command.append("--dbbench-keep-sizes")
    return command


def run_benchmarks(
    targets: list[Target],
    sizes: Sequence[int] | None,
    profile: str,
    output_dir: Path | str | None,
    *,
    seed: int = DEFAULT_SEED,
    allow_foreign: bool = False,
    echo: bool = True,
    control: bool = True,
    keep_sizes: bool = False,
) -> Path:
    """Benchmark every operation on ``targets`` at each size (ascending) and return the pytest-benchmark JSON.

    ``control`` adds the baseline (the first PostgreSQL target) a second time, as ``<name>_control``, on the
    operations that carry most of the mix (:data:`CONTROL_OPERATIONS`).

    Runs the suite (``dbbench/bench/suite``) in a pytest subprocess (Django is configured there for exactly these
    targets, through ``DBBENCH_TARGETS`` in its environment, so no URL or password appears on a command line).
    ``sizes`` None means the profile's. ``echo`` False captures pytest's output instead of showing it.
    ``keep_sizes``: each size below the largest is seeded into a database of its own (:func:`sized_database`) and
    kept, so the next run finds it seeded and measures at once. Raises :class:`StageFailed`.
    """
    chosen = get_profile(profile)
    sizes = sorted(set(sizes)) if sizes else list(chosen.sizes)
    if any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ConfigError(f"bad sizes {sizes!r}: every size must be a whole number of attempts >= 1")
    if not targets:
        raise ConfigError("no targets to benchmark")
    for target in targets:
        # One-line errors here, before a subprocess: a server that is down, a database that is not ours.
        ensure_database(target, allow_foreign=allow_foreign)
        if keep_sizes:
            for size in sizes[:-1]:
                _check_sized(target.with_database(sized_database(target.database, size, sizes[-1])))
    out = Path(output_dir) if output_dir else DEFAULT_OUTPUT_DIR
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {out}: {exc.strerror}") from None
    path = (out / f"benchmarks-{profile}-{stamp()}.json").resolve()
    command = pytest_command(path, profile, sizes, seed, allow_foreign=allow_foreign, keep_sizes=keep_sizes)
    measured = list(targets)
    if control:
        # The run's control: the baseline's database again under another name, in the same interleaved rounds.
        # It has no real difference to find, so its spread is this run's noise floor (dbbench.report.data).
        baseline = baseline_of(targets)
        twin = baseline.with_database(baseline.database)
        twin = replace(twin, name=f"{baseline.name[:22]}_control")  # target names are at most 31 characters
        measured.append(twin)
        command.append(f"--dbbench-control={twin.name}={baseline.name}")
    # One writer per database: a seed or migrate-data started meanwhile refuses instead of breaking the suite.
    # The suite (a child) seeds under this process's lock. On Ctrl-C / SIGTERM subprocess.run kills the child.
    with exclusive_all(targets, "a benchmark run"):
        env = {**os.environ, ENV_TARGETS: ",".join(f"{t.name}={t.url}" for t in measured), **held_locks_env()}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        proc = subprocess.run(command, cwd=out, env=env, text=True, capture_output=not echo, check=False)
    if proc.returncode != 0 or not path.exists():
        tail = "" if echo else _last_line(proc.stdout + proc.stderr)
        raise StageFailed(
            mask_secrets(
                f"benchmarks failed (pytest exit code {proc.returncode}){': ' + tail if tail else ''}", targets
            )
        )
    return path


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    failed = [line for line in lines if line.startswith(("FAILED", "ERROR", "E "))]
    return (failed or lines or [""])[-1][:300]


def run_summary(path: Path) -> dict[str, Any]:
    """What the suite wrote about the run as a whole: profile, sizes, seed, wall time, warnings."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot read benchmark results: {exc}") from None
    summary = document.get("dbbench_run") if isinstance(document, dict) else None
    if not isinstance(summary, dict):
        raise ResultsError(f"{path}: not written by dbbench's benchmark suite")
    summary = dict(summary)
    summary["benchmarks"] = len(document.get("benchmarks") or [])
    return summary
