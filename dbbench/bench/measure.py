"""Measure one operation on every backend at once: rounds interleaved, so drift hits every backend alike.

Measuring backend A for a few seconds and then backend B turns anything that changes between those seconds (another
process taking a core, the CPU clocking down, a checkpoint) into a "difference" between A and B. A control run of
one PostgreSQL database under two names, measured that way on a shared CI machine, came out 9% "faster" on the
second name (student_recent: 0.82x, 95% CI 0.76-0.88). So every round here runs the operation once on each backend,
and the order rotates from round to round (A B, B A, A B, ...) so that no backend always follows another.

Each backend draws its arguments from its own copy of one seeded stream: round *r* asks every backend the same
question. Backends take turns in blocks of a few milliseconds of calls (:func:`block_size`), not call by call.
The module needs a configured Django (the targets' aliases) and no pytest; ``dbbench.bench.plugin``
hands the timings to pytest-benchmark.

How many rounds: a first batch sized from the warm-up, then more batches until each backend's ratio to the first
subject (the baseline) has an interval narrower than the profile's precision, or the operation's time cap is spent
(:class:`~dbbench.bench.runner.Profile`). A fixed count left the mix at 1.02x (0.95-1.09) and ``submit_quiz`` at
0.99x (0.73-1.37): too wide to decide anything.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any

from dbbench.bench.runner import Profile
from dbbench.stats import MIN_SAMPLES, Label, compare

if TYPE_CHECKING:
    from dbbench.bench import workloads as w

BLOCK_SECONDS = 0.005
MAX_BLOCK = 20


@dataclass(frozen=True)
class Subject:
    """One backend at one size: its alias, the seeded data the arguments come from, and its last seeded id."""

    alias: str
    dataset: w.Dataset
    last_id: int


@dataclass
class BackendRun:
    """What one backend did in an interleaved measurement."""

    alias: str
    timings: list[float] = field(default_factory=list)  # seconds per measured round, in run order
    warmup_rounds: int = 0
    calls: int = 0  # timed calls, warm-up included
    inserted: int = 0  # rows removed afterwards that the calls added
    result: Any = None  # the last measured call's result
    error: Exception | None = None  # why this backend stopped (the others went on)


class MeasurementError(RuntimeError):
    """The data was not left as the seeder wrote it."""


def _w() -> ModuleType:
    """The quiz site's workloads, imported when first needed: they import the quiz models, which a replay in a
    team's own project (without the quiz app) never uses."""
    from dbbench.bench import workloads

    return workloads


def rotation(aliases: Sequence[str], round_no: int) -> list[str]:
    """The order of round ``round_no``: A B C, then B C A, then C A B, ... (A B, B A for two)."""
    k = round_no % len(aliases) if aliases else 0
    return [*aliases[k:], *aliases[:k]]


def measure_interleaved(
    operation: w.Operation, variant: str, subjects: Sequence[Subject], profile: Profile, key: str
) -> dict[str, BackendRun]:
    """Warm up, then measure ``operation``/``variant`` on every subject, one call per subject per round.

    Rounds come from the warm-up: as many as fit the profile's budget at the *slowest* backend's median (within
    the profile's floor and cap), the same number for every backend. A backend that fails is dropped from the
    rotation with its error kept; the rest are measured to the end. Afterwards the rows the calls added are
    deleted and changed scores put back, so the next measurement sees the seeded data; a bulk insert's rows go
    after every round, so every round sees the same table.
    """
    make_args, timed = operation.bind(variant)
    runs = {s.alias: BackendRun(s.alias) for s in subjects}
    by_alias = {s.alias: s for s in subjects}
    # Every score an update changes, in the order first seen: put back last-first, so that when two aliases share
    # one database (a control) the value restored last is the one the seeder wrote.
    originals: list[tuple[str, int, int]] = []
    seen: set[tuple[str, int]] = set()
    per_round_cleanup = bool(operation.inserts) and operation.inserts >= _w().BULK_ROWS

    def prepare(alias: str, rng: random.Random) -> tuple[Any, ...]:
        """Draw one call's arguments and compile what it sends (untimed)."""
        args = operation.arguments(by_alias[alias].dataset, rng)
        if operation.updates and (alias, args[0]) not in seen:
            seen.add((alias, args[0]))
            originals.append((alias, args[0], _w().score_of(alias, args[0])))
        return make_args(alias, args)

    def call(alias: str, call_args: tuple[Any, ...]) -> tuple[float, Any]:
        runs[alias].calls += 1
        started = time.perf_counter()
        result = timed(*call_args)
        seconds = time.perf_counter() - started
        if per_round_cleanup:
            _remove_added(runs[alias], by_alias[alias].last_id)
        return seconds, result

    def rounds_of(
        streams: Mapping[str, random.Random], count: int, budget_s: float, first: int = 0, block: int = 1
    ) -> dict[str, list[float]]:
        """Up to ``count`` rounds (numbered from ``first``), ``block`` calls per backend at a time in the rotating
        order, stopping early once past ``budget_s`` (0: no budget); each backend's times."""
        times: dict[str, list[float]] = {a: [] for a in streams}
        started = time.perf_counter()
        r = 0
        while r < count and not (budget_s and r and time.perf_counter() - started >= budget_s):
            n = min(block, count - r)
            live = [a for a in rotation(list(streams), (first + r) // block) if runs[a].error is None]
            if not live:
                break
            for alias in live:
                try:
                    # A block's calls are all prepared first, so the timed calls run back to back, as in a plain
                    # loop: compiling SQL between two timed calls evicted the caches the next call would use.
                    prepared = [prepare(alias, streams[alias]) for _ in range(n)]
                    for call_args in prepared:
                        seconds, result = call(alias, call_args)
                        times[alias].append(seconds)
                        runs[alias].result = result
                except Exception as exc:  # kept and reported on that backend's own benchmark
                    runs[alias].error = exc
            r += n
        return times

    aliases = [s.alias for s in subjects]
    try:
        # Warm-up draws from its own stream, so the measured rounds see the same arguments on every backend however
        # the warm-up went.
        streams = {a: random.Random(f"{key}:warmup") for a in aliases}
        warm = rounds_of(streams, profile.warmup, profile.warmup_budget_s * len(aliases))
        medians = [statistics.median(t) for a, t in warm.items() if t and runs[a].error is None]
        for alias, t in warm.items():
            runs[alias].warmup_rounds = len(t)
        rounds = profile.rounds_for(max(medians), len(medians)) if medians else 0
        block = block_size(max(medians)) if medians else 1
        streams = {a: random.Random(key) for a in aliases}
        started = time.perf_counter()
        while rounds:
            done = max(len(r.timings) for r in runs.values())
            for alias, t in rounds_of(streams, rounds, 0, first=done, block=block).items():
                runs[alias].timings += t
            spent = time.perf_counter() - started
            done = max(len(r.timings) for r in runs.values())
            if done >= profile.max_rounds or spent >= profile.cap_s or precise(runs, aliases, profile.precision):
                break
            # The next batch: as many rounds again, within the cap and the round limit.
            per_round = spent / done
            rounds = min(done, profile.max_rounds - done, max(1, int((profile.cap_s - spent) / per_round)))
    finally:
        _restore(runs, by_alias, operation, originals)
    return runs


def block_size(seconds_per_call: float) -> int:
    """Calls per backend before the rotation moves on: about :data:`BLOCK_SECONDS` of work, at most
    :data:`MAX_BLOCK`.

    Switching backend on every call made each call slower than the same call in a plain loop (a pk lookup
    measured 0.126 ms alternating against 0.098 ms in blocks of 20 and 0.096 ms in a plain loop, PostgreSQL 15
    on 2 cores): the other server's turn evicts caches and wakes another process. Blocks of a few milliseconds
    keep that cost out of the figures, and are still far shorter than the disturbances interleaving evens out.
    """
    if seconds_per_call <= 0:
        return MAX_BLOCK
    return max(1, min(MAX_BLOCK, int(BLOCK_SECONDS / seconds_per_call)))


def precise(runs: Mapping[str, BackendRun], aliases: Sequence[str], precision: float) -> bool:
    """Whether every backend's ratio to the first one (the baseline) is known to within ``precision``.

    The interval is the report's own (block bootstrap of the ratio of medians), with fewer resamples: this runs
    between batches, and the report recomputes it in full.
    """
    base = runs[aliases[0]]
    if base.error is not None or len(base.timings) < MIN_SAMPLES:
        return False
    for alias in aliases[1:]:
        run = runs[alias]
        if run.error is not None:
            continue
        c = compare(base.timings, run.timings, resamples=400)
        if c.label is Label.TOO_FEW or (c.high - c.low) / c.ratio > precision:
            return False
    return True


@dataclass(frozen=True)
class Calibration:
    """The harness's own cost on one backend: an empty timed call, and the bare driver running ``pk_lookup``."""

    alias: str
    empty_call_us: float  # median of timing a call that does nothing
    bare_driver_ms: float  # median of the same SELECT run by the driver in a plain loop
    rounds: int

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "alias": self.alias,
            "empty_call_us": round(self.empty_call_us, 3),
            "bare_driver_ms": round(self.bare_driver_ms, 4),
            "rounds": self.rounds,
        }


def calibrate(subject: Subject, rounds: int = 1_000) -> Calibration:
    """Time an empty call and a bare driver loop of ``pk_lookup``'s statement on ``subject``'s connection.

    The report sets the bare loop next to the harness's raw ``pk_lookup`` median: what the harness adds on top
    of the driver and the server (drawing arguments, rotating backends, handing timings over).
    """

    def nothing() -> None:
        return None

    empty = []
    for _ in range(rounds):
        started = time.perf_counter()
        nothing()
        empty.append(time.perf_counter() - started)
    rng = random.Random(f"calibrate:{subject.alias}")
    pks = [subject.dataset.attempt_ids[rng.randrange(len(subject.dataset.attempt_ids))] for _ in range(rounds)]
    calls = [_w().prepare_pk_lookup(subject.alias, pk) for pk in pks]  # compiled before timing, like the harness
    bare = []
    with calls[0].connection.cursor() as cur:
        for call in calls:
            sql, params = call.statements[0]
            started = time.perf_counter()
            cur.execute(sql, params)
            cur.fetchall()
            bare.append(time.perf_counter() - started)
    return Calibration(subject.alias, statistics.median(empty) * 1e6, statistics.median(bare) * 1e3, rounds)


def _remove_added(run: BackendRun, last_id: int) -> None:
    w = _w()
    run.inserted += w.delete_attempts_after(run.alias, last_id)
    w.reclaim_space(run.alias)


def _restore(
    runs: dict[str, BackendRun],
    subjects: Mapping[str, Subject],
    operation: w.Operation,
    originals: list[tuple[str, int, int]],
) -> None:
    """Put the data back as the seeder wrote it; a backend that cannot be reached keeps (or gets) its error."""

    def guarded(alias: str, chore: Callable[[], None]) -> None:
        try:
            chore()
        except Exception as exc:  # the backend's own error (server gone) is the one to report
            runs[alias].error = runs[alias].error or exc

    if operation.inserts:
        for alias, run in runs.items():
            guarded(alias, partial(_remove_added, run, subjects[alias].last_id))
    for alias, pk, score in reversed(originals):
        guarded(alias, partial(_w().restore_scores, alias, {pk: score}))
    if originals:
        for alias in {a for a, _, _ in originals}:
            # The old row versions of an UPDATE are dead rows too (PostgreSQL).
            guarded(alias, partial(_w().reclaim_space, alias))


def check_data(runs: Mapping[str, BackendRun], operation: w.Operation, size: int) -> None:
    """Raise :class:`MeasurementError` unless every backend holds ``size`` attempts and every added row went.

    Inserted rows are counted over all backends together: two aliases of one database (a control) delete each
    other's rows, so only the sum is exact.
    """
    healthy = [r for r in runs.values() if r.error is None]
    for run in healthy:
        rows = _w().attempt_count(run.alias)
        if rows != size:
            raise MeasurementError(f"{run.alias}: {rows} attempts after the benchmark, expected {size}")
    added = sum(operation.inserts * r.calls for r in runs.values())
    removed = sum(r.inserted for r in runs.values())
    if not any(r.error for r in runs.values()) and removed != added:
        raise MeasurementError(f"removed {removed} rows after the benchmark, the calls inserted {added}")
