"""Replay a capture on two aliases that hold the same data: per shape, same answers? and how much faster or slower.

Needs a configured Django with the baseline, the candidate and (for the run's control) the baseline again under a
third alias. Per shape, up to ``instances`` captured instances are compiled for the baseline and the candidate
(:mod:`dbbench.replay.statements`), run once on each to compare their answers (:mod:`dbbench.replay.answers`),
then measured in interleaved rounds by the benchmark suite's own
:func:`dbbench.bench.measure.measure_interleaved` (the same rotation, blocks and stopping rule), every round on
the same instance for every alias, compiled just before it is sent, as the app and the benchmark compile theirs.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import connections

from dbbench.bench import measure
from dbbench.bench.runner import Profile
from dbbench.capture.hook import KEEP_FIRST
from dbbench.errors import ConfigError, one_line
from dbbench.replay import answers
from dbbench.replay.statements import (
    READ,
    NotReplayable,
    Statement,
    call_for,
    compile_instance,
    constraint_check,
    converted,
    run,
)

# A first batch of ~0.3 s per backend, then more until the ratio is known within 5% or 2 s have gone per shape.
PROFILE = Profile(
    "replay",
    (),
    warmup=5,
    warmup_budget_s=0.2,
    min_rounds=30,
    max_rounds=5_000,
    budget_s=0.3,
    cap_s=2.0,
    slow_rounds=5,
)


@dataclass(frozen=True)
class Options:
    instances: int = KEEP_FIRST  # per shape: every instance a capture keeps by default
    shapes: int = 40  # the shapes with the most captured time; the rest are listed, not replayed
    cap_s: float = PROFILE.cap_s


@dataclass(frozen=True)
class Aliases:
    baseline: str
    candidate: str
    control: str | None = None

    @property
    def measured(self) -> list[str]:
        return [a for a in (self.baseline, self.candidate, self.control) if a]


class DataMissing(ConfigError):
    """The targets do not hold the captured tables, or not the same rows."""


def replay(capture: dict[str, Any], aliases: Aliases, options: Options = Options()) -> dict[str, Any]:
    """Replay ``capture`` on ``aliases``; returns the replay data (every shape, its status, timings, answers)."""
    tables = captured_tables(capture)
    before = {a: row_counts(a, tables) for a in (aliases.baseline, aliases.candidate)}
    check_same_data(before, aliases)
    known = benchmark_shapes(aliases.baseline)
    total = sum(s["seconds"] for s in capture["shapes"]) or 1.0
    profile = Profile(**{**PROFILE.__dict__, "cap_s": options.cap_s})
    shapes = []
    for index, shape in enumerate(capture["shapes"]):
        entry = {
            "id": shape["id"],
            "source": shape["source"],
            "kind": shape["kind"],
            "model": shape.get("model", ""),
            "count": shape["count"],
            "seconds": shape["seconds"],
            "share": shape["seconds"] / total,
            "sites": sorted({i["site"] for i in shape["instances"] if i.get("site")})[:5],
            "sql": shape["sql"][:2000],  # placeholders only: parameter values are never written here
            "operation": known.get(shape["sql"]) if shape["vendor"] == connections[aliases.baseline].vendor else None,
        }
        if index >= options.shapes:
            entry.update(status="skipped", reason=f"beyond the {options.shapes} shapes with the most time")
        else:
            entry.update(_replay_shape(shape, aliases, options, profile))
        shapes.append(entry)
    after = {a: row_counts(a, tables) for a in (aliases.baseline, aliases.candidate)}
    return {
        "baseline": aliases.baseline,
        "candidate": aliases.candidate,
        "control": aliases.control,
        "vendors": {a: connections[a].display_name for a in aliases.measured},
        "instances": options.instances,
        "captured": {k: capture.get(k) for k in ("django", "project", "statements", "processes", "seconds", "params")},
        "row_counts_before": before,
        "row_counts_after": after,
        "data_unchanged": before == after,
        "shapes": shapes,
    }


def _replay_shape(shape: dict[str, Any], aliases: Aliases, options: Options, profile: Profile) -> dict[str, Any]:
    base, cand = aliases.baseline, aliases.candidate
    # For the answers pass, once per instance; the timed rounds compile each call's instance again (_measure).
    compiled: dict[str, list[Statement]] = {a: [] for a in (base, cand)}
    query = None
    try:
        for instance in shape["instances"][: options.instances]:
            for alias in (base, cand):
                compiled[alias].append(compile_instance(shape, instance, alias))
            if shape["source"] == "orm" and query is None:
                query = compiled[base][-1].compiler.query if compiled[base][-1].compiler else None
    except NotReplayable as exc:
        return {"status": "not_replayable", "reason": str(exc)}
    except Exception as exc:  # the candidate's compiler refuses the query (DISTINCT ON, a lookup it lacks)
        return _failure(shape, f"{type(exc).__name__}: {one_line(exc)}", "")
    if not compiled[base]:
        return {"status": "not_replayable", "reason": "no instance kept"}
    # Same answers? Each instance once on each backend, untimed.
    same, differ = 0, 0
    for i, (b, c) in enumerate(zip(compiled[base], compiled[cand], strict=True)):
        try:
            base_rows = run(call_for(base, b), check=constraint_check(base))
        except Exception as exc:
            return {"status": "fails_on_baseline", "reason": redact(f"{type(exc).__name__}: {one_line(exc)}")[:300]}
        try:
            cand_rows = run(call_for(cand, c), check=constraint_check(cand))
        except Exception as exc:
            site = shape["instances"][i].get("site", "")
            return _failure(shape, f"{type(exc).__name__}: {one_line(exc)}", site, c.sql)
        if b.mode == READ:
            if answers.digest(converted(b, base_rows), ordered=b.ordered) == answers.digest(
                converted(c, cand_rows), ordered=c.ordered
            ):
                same += 1
            else:
                differ += 1
    result: dict[str, Any] = {"status": "replayed", "mode": compiled[base][0].mode}
    if differ:
        result["answers"] = {
            "same": same,
            "differ": differ,
            "probe": answers.explaining_probe(_query_of(shape), shape["sql"]),
        }
    kept = shape["instances"][: options.instances]
    result.update(_measure(shape, kept, aliases, profile))
    return result


def _query_of(shape: dict[str, Any]) -> Any:
    from dbbench.replay.statements import _unpickle

    if shape["source"] != "orm" or not shape["instances"]:
        return None
    try:
        return _unpickle(shape["instances"][0].get("query"), "query")
    except NotReplayable:
        return None


# Values a server quotes back in its error messages (the replayed parameters): never written to the result.
_VALUES = (
    (re.compile(r"(Key \([^)]*\)=\()[^)]*(\))"), r"\1...\2"),  # PostgreSQL: Key (slug)=(red) already exists
    (re.compile(r"(Duplicate entry ')[^']*(')"), r"\1...\2"),  # MySQL family
    (re.compile(r"((?:value|string|entry):? ')[^']*(')", re.I), r"\1...\2"),  # Incorrect integer value: 'x'
)


def redact(message: str) -> str:
    """An error message without the values the server quoted from the statement's parameters."""
    for pattern, replacement in _VALUES:
        message = pattern.sub(replacement, message)
    return message


def _failure(shape: dict[str, Any], error: str, site: str, sql: str = "") -> dict[str, Any]:
    """A shape that runs on the baseline and fails on the candidate: the error, the call site, what explains it."""
    from dbbench.app.compare import explain

    kind, _, message = error.partition(": ")
    known = explain({"type": kind, "message": message}, [{"sql": sql or shape["sql"], "params": ""}])
    failure: dict[str, Any] = {
        "status": "fails",
        "error": redact(error)[:300],
        "site": site or next((i["site"] for i in shape["instances"] if i.get("site")), ""),
        "explanation": known,
    }
    if shape["source"] == "raw":
        from dbbench.audit.sql import check_sql

        check = check_sql(shape["sql"])
        failure["status"] = "not_replayable"
        failure["reason"] = "raw PostgreSQL SQL: not replayable"
        failure["audit"] = [c.label for c in check.constructs] or ([check.parse_error] if check.parse_error else [])
    return failure


def _measure(
    shape: dict[str, Any], instances: list[dict[str, Any]], aliases: Aliases, profile: Profile
) -> dict[str, Any]:
    """Interleaved rounds on every alias (the benchmark suite's harness), every round the same instance."""
    key, count = shape["id"], len(instances)

    def prepare(alias: str, index: int) -> Any:
        # Compiled per call, untimed, as the app compiles each query and as the benchmark's raw twins do. The work
        # between timed calls changes the round trip itself on a small VM (where the scheduler puts client and
        # server): sent back to back from a list compiled once, a MariaDB pk read timed 134-161 us against 181-195
        # us for the benchmark's raw twin on the same servers, PostgreSQL's alike (scripts/replay_consistency.py).
        return call_for(alias, compile_instance(shape, instances[index], alias))

    operation = _Replayed(key, lambda ds, rng: (rng.randrange(count),), prepare)
    # The harness draws arguments from each subject's dataset; a replay's arguments are instance numbers instead.
    subjects = [measure.Subject(a, None, 0) for a in aliases.measured]  # type: ignore[arg-type]
    runs = measure.measure_interleaved(operation, "raw", subjects, profile, f"replay:{key}")  # type: ignore[arg-type]
    errors = {a: one_line(r.error) for a, r in runs.items() if r.error is not None}
    return {
        "timings_ms": {a: [round(t * 1e3, 5) for t in r.timings] for a, r in runs.items()},
        "measure_errors": errors,
    }


@dataclass(frozen=True)
class _Replayed:
    """A shape as the harness sees an operation (``workloads.Operation``'s shape, without the quiz models): the
    arguments are an instance number, prepared (compiled, untimed) per alias, then sent (timed)."""

    name: str
    arguments: Callable[[Any, random.Random], tuple[int]]
    prepare: Callable[[str, int], Any]
    inserts: int = 0  # writes are rolled back: nothing to remove afterwards
    updates: bool = False

    def bind(self, variant: str) -> tuple[Callable[[str, tuple[Any, ...]], Any], Callable[..., Any]]:
        return (lambda using, args: (self.prepare(using, *args),)), run


# --- the data both targets must hold -------------------------------------------------------------------------


def captured_tables(capture: dict[str, Any]) -> list[str]:
    """The tables of the models the captured ORM queries read or write (known to this project's Django)."""
    tables = set()
    for shape in capture["shapes"]:
        label = shape.get("model")
        if not label:
            continue
        try:
            tables.add(apps.get_model(label)._meta.db_table)
        except (LookupError, ValueError):
            continue  # a model Django builds for itself (migrations.Migration): its shapes fail to load, listed
    return sorted(tables)


def row_counts(alias: str, tables: list[str]) -> dict[str, int | None]:
    """Rows per table on ``alias``; None for a table it does not have."""
    connection = connections[alias]
    present = set(connection.introspection.table_names())
    counts: dict[str, int | None] = {}
    with connection.cursor() as cursor:
        for table in tables:
            if table not in present:
                counts[table] = None
                continue
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = int(cursor.fetchone()[0])
    return counts


def check_same_data(counts: dict[str, dict[str, int | None]], aliases: Aliases) -> None:
    """One line unless both targets hold every captured table with the same number of rows."""
    base, cand = counts[aliases.baseline], counts[aliases.candidate]
    for alias, mine in counts.items():
        missing = [t for t, n in mine.items() if n is None]
        if missing:
            raise DataMissing(
                f"replay: {alias} has no table {', '.join(missing[:3])}: the replay needs your data on both targets "
                "(copy it with dbbench migrate-data first)"
            )
    unequal = [t for t in base if base[t] != cand[t]]
    if unequal:
        t = unequal[0]
        raise DataMissing(
            f"replay: {aliases.baseline} and {aliases.candidate} do not hold the same data ({t}: {base[t]:,} rows "
            f"against {cand[t]:,}); give two targets with the same data"
        )


def benchmark_shapes(alias: str) -> dict[str, str]:
    """SQL -> benchmark operation, for the quiz site's operations whose statement a capture may hold."""
    if not apps.is_installed("dbbench.quiz"):
        return {}
    from dbbench.bench import workloads as w
    from dbbench.quiz.models import QuizAttempt

    attempts = QuizAttempt.objects.using(alias)
    statements: dict[str, Callable[[], tuple[str, Any]]] = {
        "pk_lookup": lambda: w.compile_get(attempts.filter(pk=1)),
        "student_recent": lambda: w.compile_select(w._recent_qs(alias, 1)),
        "leaderboard": lambda: w.compile_select(w._leaderboard_qs(alias, 1)),
        "update_attempt": lambda: w.compile_update(attempts.filter(pk=1), score=1),
    }
    return {make()[0]: name for name, make in statements.items()}
