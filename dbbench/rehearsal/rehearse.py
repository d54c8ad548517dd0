"""Migration rehearsal: copy the quiz tables from one backend to another, verify the copy, time it.

``rehearse(source, target)`` answers "how long will we be down, and will we lose anything?" on the seeded data:

1. The copy goes into a dbbench database of its own on the target server (``<database>_rehearsal`` unless told
   otherwise), created, marked and migrated like any other. It must be empty, or a copy that never finished or
   failed verification (then it restarts cleanly), or ``replace=True``. A state row in ``dbbench_rehearsal``
   says "incomplete" from before the first row is removed or written until the copy is verified.
2. The source is only read (``dbbench.rehearsal.copy``): one read-only snapshot, tables in dependency order,
   streamed in batches through the target's fast load path; ids copied as they are, then the target's sequences
   / AUTO_INCREMENT continue after the highest one, and the planner statistics are refreshed.
3. ``dbbench.rehearsal.compare`` compares both sides on the servers (counts, digest sums per id range, the
   first differing rows by value) and ``dbbench.rehearsal.verify`` smoke-tests the copy through the ORM.
4. The result (kind ``rehearsal``) has the times, rates, conversions, the measured sizes (this one and earlier
   ones passed in) and downtime estimates for other sizes fitted to them (``dbbench.rehearsal.estimate``);
   ``dbbench.rehearsal.render`` prints its summary.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db.models import Model

from dbbench import djangoenv
from dbbench.backends import bulkload
from dbbench.backends.database import exclusive
from dbbench.backends.targets import Target
from dbbench.errors import ConfigError, DbbenchError, mask_secrets
from dbbench.rehearsal.compare import compare_table, sides
from dbbench.rehearsal.copy import LOCK_WAIT_S, TableCopy, analyze, continue_ids, copy_tables, restore_deferred
from dbbench.rehearsal.estimate import ALGORITHM, ESTIMATE_ATTEMPTS, Point, estimate, fits, setup_of
from dbbench.rehearsal.verify import Conversion, TableCheck, conversions, read_only, short, smoke_test

KIND = "rehearsal"
SUFFIX = "_rehearsal"
STATE_TABLE = "dbbench_rehearsal"
DEFAULT_BATCH = 20_000
INCOMPLETE, FAILED, COMPLETE = "incomplete", "failed", "complete"


class TargetNotEmpty(DbbenchError):
    """The copy's database holds a verified copy (or rows dbbench did not copy) and --replace was not given."""


@dataclass
class Endpoint:
    alias: str
    vendor: str  # the server's own word (doctor.server_info)
    version: str
    database: str
    url: str  # masked

    def label(self) -> str:
        return f"{self.alias} ({self.vendor} {self.version}, database {self.database})"


@dataclass
class Rehearsal:
    source: Endpoint
    target: Endpoint
    method: str = ""
    batch_size: int = DEFAULT_BATCH
    copies: list[TableCopy] = field(default_factory=list)
    checks: list[TableCheck] = field(default_factory=list)
    conversions: list[Conversion] = field(default_factory=list)
    next_ids: dict[str, int] = field(default_factory=dict)
    smoke: list[str] = field(default_factory=list)  # what the ORM smoke test did; empty when it did not run
    smoke_ok: bool = False
    copy_seconds: float = 0.0  # reading, loading, ids and statistics: the data part of the downtime
    verify_seconds: float = 0.0
    verify_table_seconds: dict[str, float] = field(default_factory=dict)
    restarted: str | None = None  # why rows that were in the copy's database were replaced
    estimate_for: list[int] = field(default_factory=list)  # attempt counts to estimate for besides the defaults
    earlier: list[Point] = field(default_factory=list)  # sizes measured before (other rehearsals), for the fit

    source_rows_before: dict[str, int] = field(default_factory=dict)  # per table, read before the copy began
    size_unit = "attempts"  # what ``attempts`` counts (a project's copy: rows of its largest table)

    @property
    def emptied(self) -> list[str]:
        """Tables that held rows before the copy and have none in it: a copy of nothing proves nothing."""
        copied = {c.table: c.rows for c in self.copies}
        verified = {c.table: c.target_rows for c in self.checks}
        return [t for t, n in self.source_rows_before.items() if n > 0 and not (copied.get(t) or verified.get(t))]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks) and self.smoke_ok and not self.emptied

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.copies)

    @property
    def attempts(self) -> int:
        from dbbench.quiz.models import QuizAttempt

        return next((c.source_rows for c in self.checks if c.table == QuizAttempt._meta.db_table), 0)

    @property
    def setup(self) -> str:
        return setup_of(self.source.vendor, self.target.vendor, self.method)

    def points(self) -> list[Point]:
        """The measured sizes: this rehearsal's first, then earlier ones of the same setup at other sizes."""
        if not self.attempts:
            return []
        copy = self.copy_seconds if self.copies else None  # --verify-only copies nothing
        here = Point(self.attempts, copy, self.verify_seconds, "this rehearsal", self.setup)
        return [here, *(p for p in self.earlier if p.setup == self.setup and p.attempts != self.attempts)]

    def estimates(self) -> list[dict[str, Any]]:
        if not (self.attempts and self.copies):
            return []
        return [estimate(self, n) for n in sorted({*ESTIMATE_ATTEMPTS, *self.estimate_for})]

    def as_dict(self) -> dict[str, Any]:
        copies = {c.table: c for c in self.copies}
        tables = []
        for check in self.checks:
            copy = copies.get(check.table)
            tables.append(
                {
                    "table": check.table,
                    "rows": check.source_rows,
                    "copy_seconds": round(copy.seconds, 3) if copy else None,
                    "rows_per_s": round(copy.rows_per_s) if copy else None,
                    "load_share": round(copy.load_seconds / copy.seconds, 2) if copy and copy.seconds else None,
                    "source_bytes": copy.source_bytes if copy else None,
                    "index_seconds": round(copy.index_seconds, 3) if copy else None,
                    "verify_seconds": round(self.verify_table_seconds.get(check.table, 0.0), 3),
                    "next_id": self.next_ids.get(check.table),
                    "source_checksum": check.source_checksum,
                    "target_checksum": check.target_checksum,
                    "differing_rows": check.differing_rows,
                    "rewritten_rows": check.rewritten,
                    "match": check.ok,
                }
            )
        return {
            "ok": self.ok,
            "source": self.source.label(),
            "target": self.target.label(),
            "source_vendor": self.source.vendor,
            "target_vendor": self.target.vendor,
            "source_url": self.source.url,
            "target_url": self.target.url,
            "attempts": self.attempts,
            "rows": self.rows,
            "method": self.method,
            "batch_size": self.batch_size,
            "copy_seconds": round(self.copy_seconds, 3),
            "rows_per_s": round(self.rows / self.copy_seconds) if self.copy_seconds > 0 else None,
            "verify_seconds": round(self.verify_seconds, 3),
            "downtime_seconds": round(self.copy_seconds + self.verify_seconds, 3),
            "smoke_test": "ok" if self.smoke_ok else ("failed" if self.smoke else "not run"),
            "restarted": self.restarted,
            "emptied_tables": self.emptied,
            "tables": tables,
            "differences": [
                {"table": d.table, "id": d.pk, "field": name, "source": short(a), "target": short(b)}
                for check in self.checks
                for d in check.examples
                for name, (a, b) in d.fields.items()
            ],
            "conversions": [dataclasses.asdict(c) for c in self.conversions],
            "algorithm": ALGORITHM,
            "points": [p.as_dict() for p in self.points()],
            "points_left_out": [{"origin": p.origin, "setup": p.setup} for p in self.earlier if p.setup != self.setup],
            "fits": {name: f.as_dict() if f else None for name, f in zip(("copy", "verify"), fits(self), strict=True)},
            "estimates": self.estimates(),
            "smoke": self.smoke,
        }


# --- the rehearsal ------------------------------------------------------------------------------------------


def rehearse(
    source: Target,
    target: Target,
    *,
    database: str | None = None,
    replace: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: bool | None = None,
    allow_foreign: bool = False,
    earlier: Sequence[Point] = (),
) -> Rehearsal:
    """Copy every quiz table of ``source`` into ``database`` (default ``<target database>_rehearsal``) on
    ``target``'s server, verify the copy, smoke-test it through the ORM and time it.

    ``earlier``: sizes measured before (``estimate.load_points``); those of the same setup are fitted with this one.
    Django must be set up (any targets: databases that are not configured get a temporary alias).
    """
    if batch_size < 1:
        raise ConfigError(f"bad batch size {batch_size}: must be at least 1")
    copy_target = copy_target_for(source, target, database)
    refuse_same_database(source, copy_target)
    with (
        exclusive(copy_target, "migrate-data"),  # a second copy into the same database would empty this one
        django_alias(source) as src,
        django_alias(copy_target) as dst,
    ):
        models = quiz_models()
        _check_source(src, models)
        djangoenv.prepare(dst, allow_foreign=allow_foreign)
        _bound_lock_waits(dst)
        result = Rehearsal(_endpoint(src), _endpoint(dst), batch_size=batch_size, earlier=list(earlier))
        method = bulkload.choose_method(dst)
        result.method = bulkload.method_name(dst, method)
        result.source_rows_before = _source_counts(src, models)
        result.restarted = _claim(src, dst, models, replace=replace)
        started = time.perf_counter()
        result.copies = copy_tables(src, dst, models, batch_size, method, progress)
        result.next_ids = continue_ids(dst, models)
        analyze(dst, models)
        result.copy_seconds = time.perf_counter() - started
        _verify_into(result, src, dst, models)
        return result


def refuse_same_database(source: Target, copy: Target) -> None:
    """Refuse when the copy's database is the source's, by the servers' own answers, not by URL text.

    ``127.0.0.1`` and ``localhost`` (or a DNS alias, another port forwarded to the same server) are one server;
    ``DBBENCH`` and ``dbbench`` are one database on a server that files names in lower case.
    """
    with copy.spec.connection(copy, None) as conn:
        clash = copy.spec.clashing_databases(conn.cursor(), copy.database)
    if clash:
        raise ConfigError(
            f"the copy's database {copy.database!r} differs only in case from {clash[0]!r} on {copy.host}:"
            f"{copy.port}, and this server cannot hold both; choose an --into name that differs in more than case"
        )
    if source.family != copy.family:
        return
    if database_identity(source) == database_identity(copy):
        raise ConfigError(
            f"the copy would overwrite its source: {copy.safe_url} is database {source.database!r} on the same "
            f"server as {source.safe_url}; choose another --into database"
        )


def database_identity(target: Target) -> tuple[str, str]:
    """(which server, the name it files the database under): equal for two targets that are one database."""
    with target.spec.connection(target, None) as conn:
        cursor = conn.cursor()
        return target.spec.server_identity(cursor), target.spec.resolved_database_name(cursor, target.database)


def _bound_lock_waits(dst: Target) -> None:
    """A lock the copy cannot get within LOCK_WAIT_S is an error, not a hang that blocks every other client."""
    from django.db import connections

    with connections[dst.name].cursor() as cursor:
        cursor.execute(dst.spec.bounded_lock_wait_sql(LOCK_WAIT_S))


def _source_counts(src: Target, models: list[type[Model]]) -> dict[str, int]:
    return {m._meta.db_table: m._default_manager.using(src.name).count() for m in models}


def verify(source: Target, target: Target, *, database: str | None = None, earlier: Sequence[Point] = ()) -> Rehearsal:
    """Check an existing copy again without copying: checksums, first differing rows, smoke test, state row.

    Indexes and foreign keys that an interrupted copy left dropped are built again first.
    """
    from dbbench.backends.database import is_owned

    copy_target = copy_target_for(source, target, database)
    refuse_same_database(source, copy_target)
    with exclusive(copy_target, "migrate-data"), django_alias(source) as src, django_alias(copy_target) as dst:
        models = quiz_models()
        _check_source(src, models)
        if not is_owned(dst) or _state(dst) is None:
            raise ConfigError(f"no copy to verify in {dst.safe_url}: run migrate-data without --verify-only first")
        result = Rehearsal(_endpoint(src), _endpoint(dst), earlier=list(earlier))
        restore_deferred(dst)
        result.next_ids = continue_ids(dst, models)
        _verify_into(result, src, dst, models)
        return result


def _verify_into(result: Rehearsal, src: Target, dst: Target, models: list[type[Model]]) -> None:
    """Compare, smoke-test, and set the state row: complete only when everything held."""
    result.conversions = conversions(src, dst, models)
    started = time.perf_counter()
    with read_only(src), sides(src, dst) as (ours, theirs, pool):
        for model in models:
            t0 = time.perf_counter()
            result.checks.append(compare_table(model, ours, theirs, pool))
            result.verify_table_seconds[model._meta.db_table] = time.perf_counter() - t0
    result.verify_seconds = time.perf_counter() - started
    if all(c.ok for c in result.checks):
        result.smoke_ok, result.smoke = smoke_test(dst, result.next_ids)
        continue_ids(dst, models)  # the smoke test's rolled-back rows still used up ids
    _mark(dst, COMPLETE if result.ok else FAILED, src)


def copy_target_for(source: Target, target: Target, database: str | None) -> Target:
    """``target``'s server under the copy's database name; refuses to copy a database onto itself."""
    name = database or target.database + SUFFIX
    if not re.fullmatch(r"[A-Za-z0-9_]{1,60}", name):
        raise ConfigError(f"bad database name {name!r} for the copy: letters, digits and _ only, at most 60")
    copy = target.with_database(name)
    where = (copy.spec.family, copy.host, copy.port, copy.database)
    if where == (source.spec.family, source.host, source.port, source.database):
        raise ConfigError(f"the copy would overwrite its source {source.safe_url}: choose another --into database")
    return dataclasses.replace(copy, name=target.name[:21] + SUFFIX)


def quiz_models() -> list[type[Model]]:
    """Every model of the quiz app, the tables others point at first."""
    from django.apps import apps

    pending = list(apps.get_app_config("quiz").get_models())
    ordered: list[type[Model]] = []
    while pending:
        ready = [
            m
            for m in pending
            if all(
                f.related_model in ordered or f.related_model is m
                for f in m._meta.concrete_fields
                if f.is_relation and f.related_model is not None
            )
        ]
        if not ready:
            raise DbbenchError(f"circular foreign keys among {', '.join(m.__name__ for m in pending)}")
        ordered += ready
        pending = [m for m in pending if m not in ready]
    return ordered


@contextmanager
def django_alias(target: Target) -> Iterator[Target]:
    """``target`` under a Django alias: its own name when configured for the same database, else a temporary one.

    The alias (:func:`dbbench.djangoenv.temporary_alias`) serves the ORM, ``migrate``, the seeder and the bulk loader.
    """
    from django.db import connections

    entry = connections.settings.get(target.name)
    if entry is not None and _same_database(entry, target):
        yield target
        return
    alias = target.name if entry is None else f"{target.name[:22]}_{uuid.uuid4().hex[:8]}"
    with djangoenv.temporary_alias(alias, target):
        yield dataclasses.replace(target, name=alias)


def _same_database(entry: dict[str, Any], target: Target) -> bool:
    theirs = (entry.get("ENGINE"), entry.get("HOST"), str(entry.get("PORT")), entry.get("NAME"))
    return theirs == (target.spec.engine, target.host, str(target.port), target.database)


# --- the copy's database and its state row ------------------------------------------------------------------


def _check_source(src: Target, models: list[type[Model]]) -> None:
    from django.db import Error, connections

    errors: tuple[type[BaseException], ...] = (Error, *src.spec.driver_errors)
    try:
        tables = set(connections[src.name].introspection.table_names())
    except errors as exc:
        text = mask_secrets(" ".join(str(exc).split()), [src])
        raise DbbenchError(f"{src.name}: cannot read {src.safe_url}: {text}") from None
    missing = [m._meta.db_table for m in models if m._meta.db_table not in tables]
    if missing:
        raise ConfigError(
            f"{src.name}: {src.safe_url} has no {', '.join(missing)}: seed it first, e.g. "
            f"dbbench seed --backend {src.name} --attempts 100k"
        )


def _claim(src: Target, dst: Target, models: list[type[Model]], *, replace: bool) -> str | None:
    """Empty the copy's tables and mark them incomplete; refuse a verified copy (or foreign rows) unless replace."""
    from django.core.management.color import no_style
    from django.db import connections

    state = _state(dst)
    filled = [m._meta.db_table for m in models if m._default_manager.using(dst.name).exists()]
    restarted = None
    if filled:
        if state in (INCOMPLETE, FAILED):
            restarted = f"an earlier copy was left {state}"
        elif replace:
            restarted = "--replace"
        else:
            whose = "a verified copy" if state == COMPLETE else "rows that no copy of dbbench wrote"
            raise TargetNotEmpty(
                f"{dst.safe_url} already holds {whose} ({', '.join(filled)}); "
                "pass --replace to copy again, or --into another database"
            )
    # Marked before the first row goes, so an interruption at any later point shows.
    _mark(dst, INCOMPLETE, src)
    if filled:
        ops = connections[dst.name].ops
        ops.execute_sql_flush(ops.sql_flush(no_style(), [m._meta.db_table for m in models], reset_sequences=True))
    return restarted


def _state(dst: Target) -> str | None:
    """None (no copy was ever started here), incomplete, failed or complete."""
    from django.db import connections

    connection = connections[dst.name]
    if STATE_TABLE not in connection.introspection.table_names():
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT state FROM {dst.spec.quote_name(STATE_TABLE)} WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else None


def state(source: Target, target: Target, database: str | None = None) -> str | None:
    """The state of the copy of ``source`` on ``target``'s server (None when there is none)."""
    from dbbench.backends.database import is_owned

    copy = copy_target_for(source, target, database)
    if not is_owned(copy):
        return None
    with django_alias(copy) as dst:
        return _state(dst)


def _mark(dst: Target, value: str, src: Target) -> None:
    from django.db import connections, transaction

    table = dst.spec.quote_name(STATE_TABLE)
    with connections[dst.name].cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (id integer PRIMARY KEY, state varchar(20) NOT NULL, "
            "source varchar(500) NOT NULL, updated_at varchar(40) NOT NULL)"
        )
    with transaction.atomic(using=dst.name), connections[dst.name].cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")
        cursor.execute(
            f"INSERT INTO {table} (id, state, source, updated_at) VALUES (1, %s, %s, %s)",
            [value, src.safe_url[:500], datetime.now(UTC).isoformat(timespec="seconds")],
        )


def _endpoint(target: Target) -> Endpoint:
    from dbbench.doctor import server_info

    info = server_info(target)
    return Endpoint(target.name, info.vendor, info.version, target.database, target.safe_url)


def output_path(path: Path | None) -> Path:
    """Where the result goes: ``path``, or ``<results dir>/rehearsal-<time>.json``. Checked up front."""
    from dbbench import results

    return results.output_path(path, f"rehearsal-{results.stamp()}.json")


def write(result: Rehearsal, path: Path) -> Path:
    from dbbench.results import write_result

    return write_result(path, KIND, result.as_dict())
