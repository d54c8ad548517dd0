"""The copying half of the migration rehearsal: stream tables from a source into a target's fast load path.

The source is only read: a raw connection in one read-only snapshot transaction (``BackendSpec``), each table in pk
order as bulk-load text (``dbbench.rehearsal.source``: PostgreSQL writes it itself with COPY), in batches. A reader
thread fetches batch k+1 while the loading thread pushes batch k through ``dbbench.backends.bulkload`` (COPY /
LOAD DATA LOCAL INFILE), one transaction per batch.

The target does what a bulk load does and the verification checks afterwards: each table's secondary indexes and
foreign keys are dropped before its first row and built again after its last one, as pg_restore does
(``bulkload.defer_constraints`` / ``rebuild_constraints``, the seeder's own: one sorted build per index and one
check per foreign key instead of an index update and a look-up per row), one table at a time in dependency order,
so a foreign key is checked once its parent is complete; and MariaDB skips its per-row CHECK constraints
(``BackendSpec.skip_row_checks``). A copy killed in between leaves the record of what was dropped; the next copy
(or verification) builds it first.

One loading connection. On the 2-core reference machine the target's loading thread is the limit (MariaDB spent
about 40% of it parsing LOAD DATA's fields), and two LOAD DATA streams into separate id ranges of the attempts
were no faster than one (14.4k and 15.3k rows/s against 13.9k and 12.6k, 600k attempts, other jobs running); the
tables besides the attempts are too small to gain from a thread of their own. That was under MariaDB's default
``innodb_autoinc_lock_mode=1``, which makes LOAD DATA statements into one table take turns; the seeder's streams
show what mode 2 allows. The rehearsal keeps one stream: it estimates the downtime on a server as it is found.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from django.db.models import Model

from dbbench import progress as shown
from dbbench.backends import bulkload
from dbbench.backends.bulkload import BatchFile
from dbbench.backends.targets import Target
from dbbench.errors import DbbenchError, mask_secrets
from dbbench.rehearsal import fields
from dbbench.rehearsal.source import batches as source_batches
from dbbench.rehearsal.source import select_as_text

LOCK_WAIT_S = 120  # DDL and TRUNCATE on the copy's tables wait at most this long for another session's lock


@dataclass
class TableCopy:
    table: str
    rows: int
    seconds: float  # from the previous table's end (this one's count and size on the source) to its last commit,
    # its indexes and keys built again
    source_bytes: int  # the source table with its indexes, as the source server counts it
    load_seconds: float = 0.0  # of which the target spent loading (the rest: waiting for the reader, indexes)
    index_seconds: float = 0.0  # of which dropping and building again the secondary indexes and foreign keys

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def copy_tables(
    src: Target,
    dst: Target,
    models: list[type[Model]],
    batch_size: int,
    method: str,
    progress: bool | None = None,
    *,
    cyclic: frozenset[str] = frozenset(),
) -> list[TableCopy]:
    """Copy ``models``' tables in this order from ``src`` into ``dst`` (empty tables; Django alias ``dst.name``).

    At most three batches exist at once (one loading, one queued, one being read), so memory stays bounded
    whatever the table size. Ids are copied as they are. Tables in ``cyclic`` hold keys to tables loaded after
    them: they keep their indexes and keys, and the session loads with foreign key checks off (every row is then
    compared with the source, whose keys held).
    """
    from django.db import transaction

    bar = Progress.create(progress)
    batches: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()
    reader = threading.Thread(
        target=_read_source, args=(src, models, batch_size, batches, stop), name="dbbench-rehearsal-read", daemon=True
    )
    copies: list[TableCopy] = []
    current: TableCopy | None = None
    finished = False
    spec = dst.spec
    zone = fields.storage_zone()
    with spec.connection(dst, dst.database) as ddl, _unchecked(dst, keys=bool(cyclic)):
        cursor = ddl.cursor()
        cursor.execute(spec.bounded_lock_wait_sql(LOCK_WAIT_S))  # DDL behind a reader's lock: an error, not a hang
        _ddl(dst, lambda: bulkload.rebuild_constraints(spec, cursor))  # what an interrupted copy left dropped
        started = time.perf_counter()
        reader.start()
        try:
            while (item := batches.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                kind, model, payload = item
                if kind == "table":  # a table starts: payload = (rows, bytes)
                    current = TableCopy(model._meta.db_table, 0, 0.0, payload[1])
                    copies.append(current)
                    convert = load_conversions(dst, model)
                    if current.table not in cyclic:
                        dropping = time.perf_counter()
                        _ddl(dst, lambda t=current.table: bulkload.defer_constraints(spec, cursor, t))
                        current.index_seconds = time.perf_counter() - dropping
                    bar.table(current.table, payload[0])
                    continue
                if kind == "end":  # its last batch is in: build its indexes; the next table's clock starts
                    assert current is not None
                    _rebuild(dst, cursor, current, started)
                    current, started = None, time.perf_counter()
                    continue
                assert current is not None
                columns, batch = payload
                load_started = time.perf_counter()
                with batch, transaction.atomic(using=dst.name):
                    current.rows += bulkload.load(dst, model, columns, batch, method, convert, zone)
                current.seconds = time.perf_counter() - started
                current.load_seconds += time.perf_counter() - load_started
                bar.advance(batch.rows)
            finished = True  # every table ended with its "end" item, its indexes and keys built again
        finally:
            stop.set()
            with suppress(queue.Empty):  # unblock a reader waiting on the full queue
                while True:
                    _discard(batches.get_nowait())
            reader.join(timeout=30)
            bar.stop(failed=not finished)
    return copies


def load_conversions(dst: Target, model: type[Model]) -> dict[str, str]:
    """Columns whose portable text the target's loader turns into the value with SQL (``{}``: the text)."""
    found = {f.column: fields.load_sql(dst.spec, f, "{}") for f in model._meta.local_concrete_fields}
    return {column: sql for column, sql in found.items() if sql}


@contextmanager
def _unchecked(dst: Target, *, keys: bool = False) -> Iterator[None]:
    """The loading session without per-row CHECK constraint checks where the server has the switch (and without
    foreign key checks when ``keys``): every row is compared with its source afterwards, and the source holds the
    same constraints (both come from Django's)."""
    from django.db import DatabaseError, connections

    with connections[dst.name].cursor() as cursor:
        restore = [dst.spec.skip_row_checks(cursor)]
        if keys:
            try:
                restore.append(dst.spec.skip_foreign_key_checks(cursor))
            except DatabaseError as exc:
                text = mask_secrets(" ".join(str(exc).split()), [dst])
                raise DbbenchError(
                    f"{dst.name}: tables in a reference cycle load with foreign key checks off, which the server "
                    f"refused: {text}"
                ) from None
    try:
        yield
    finally:
        for sql in filter(None, restore):
            with suppress(DatabaseError), connections[dst.name].cursor() as cursor:  # a broken session ends anyway
                cursor.execute(sql)


def restore_deferred(dst: Target) -> int:
    """Build again what an interrupted copy dropped (none: 0); returns how many indexes and keys were re-created."""
    spec = dst.spec
    with spec.connection(dst, dst.database) as conn:
        cursor = conn.cursor()
        return int(_ddl(dst, lambda: bulkload.rebuild_constraints(spec, cursor)))


def _rebuild(dst: Target, cursor: Any, copy: TableCopy, started: float) -> None:
    t0 = time.perf_counter()
    _ddl(dst, lambda: bulkload.rebuild_constraints(dst.spec, cursor))
    copy.index_seconds += time.perf_counter() - t0
    copy.seconds = time.perf_counter() - started


def _ddl(dst: Target, call: Any) -> Any:
    """Run ``call`` (index and key statements); a server's refusal becomes one line."""
    try:
        return call()
    except dst.spec.driver_errors as exc:
        text = mask_secrets(" ".join(str(exc).split()) or type(exc).__name__, [dst])
        raise DbbenchError(f"{dst.name}: building the copy's indexes and foreign keys failed: {text}") from None


def _read_source(
    src: Target, models: list[type[Model]], batch_size: int, out: queue.Queue[Any], stop: threading.Event
) -> None:
    """The reader thread: one read-only snapshot, each table's rows in pk order as bulk-load files."""
    spec = src.spec

    def put(item: Any) -> None:
        while not stop.is_set():
            with suppress(queue.Full):
                out.put(item, timeout=0.2)
                return
        _discard(item)
        raise _Stopped

    try:
        with spec.connection(src, src.database) as conn:
            spec.begin_read_only_snapshot(conn)
            for model in models:
                table = model._meta.db_table
                cursor = conn.cursor()
                cursor.execute(f"SELECT COUNT(*) FROM {spec.quote_name(table)}")
                total = int(cursor.fetchone()[0])
                cursor.execute(spec.table_bytes_sql(), [table])
                size = cursor.fetchone()
                cursor.close()
                put(("table", model, (total, int(size[0] or 0) if size else 0)))
                columns = select_as_text(spec, model)[0]
                for chunk, rows in source_batches(spec, conn, model, batch_size):
                    batch = BatchFile(table)
                    batch.write(chunk, rows)
                    put(("batch", model, (columns, batch)))
                # Before the next table's COUNT(*), which takes seconds at 10M rows: that is the next table's time.
                put(("end", model, None))
            conn.rollback()  # nothing to commit: the transaction was read-only
        put(None)
    except _Stopped:
        pass
    except BaseException as exc:  # handed to the loading thread, which raises it
        if isinstance(exc, spec.driver_errors):
            text = mask_secrets(" ".join(str(exc).split()) or type(exc).__name__, [src])
            exc = DbbenchError(f"{src.name}: reading the source failed: {text}")
        with suppress(_Stopped):
            put(exc)


class _Stopped(Exception):
    """The loading side gave up; the reader ends quietly."""


def _discard(item: Any) -> None:
    if isinstance(item, tuple) and item[0] == "batch":
        item[2][1].close()


def continue_ids(dst: Target, models: list[type[Model]]) -> dict[str, int]:
    """Point each table's id generator after its highest id; returns the next id per table."""
    from django.db import connections

    with connections[dst.name].cursor() as cursor:
        return {
            m._meta.db_table: dst.spec.continue_ids(cursor, m._meta.db_table, m._meta.pk.column)
            for m in models
            if m._meta.pk.get_internal_type().endswith("AutoField")
        }


def analyze(dst: Target, models: list[type[Model]]) -> None:
    """Fresh planner statistics, as a real cut-over does before letting the app in (counted in the copy time)."""
    spec = dst.spec
    with spec.connection(dst, dst.database) as conn:
        cursor = conn.cursor()
        for m in models:
            for sql in spec.statistics_sql(m._meta.db_table):
                cursor.execute(sql)
                with suppress(*spec.driver_errors):  # ANALYZE TABLE answers with a status row; VACUUM with none
                    cursor.fetchall()


class Progress:
    """A rich bar per table on a terminal; a plain line per table otherwise; nothing when ``progress=False``."""

    def __init__(self, mode: str) -> None:
        self.mode = mode  # "bar", "plain" or "off"
        self._bar: Any = None
        self._task: Any = None
        self._plain: tuple[str, int, float] | None = None
        self._total = 0
        self._said = 0.0

    @classmethod
    def create(cls, progress: bool | None) -> Progress:
        return cls(shown.mode(progress))

    def table(self, name: str, total: int) -> None:
        self._flush_plain()
        if self.mode == "bar":
            if self._bar is None:
                self._bar = shown.bar("copy {task.description:<18}", "rows")
            self._task = self._bar.add_task(name, total=total)
        elif self.mode == "plain":
            self._plain, self._total, self._said = (name, 0, time.perf_counter()), total, time.perf_counter()

    def advance(self, rows: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, rows)
        elif self._plain is not None:
            name, done, t0 = self._plain
            self._plain = (name, done + rows, t0)
            now = time.perf_counter()
            if now - self._said >= shown.PLAIN_EVERY_S and done + rows < self._total:  # a big table: where it is
                self._said = now
                rate = (done + rows) / max(now - t0, 1e-9)
                left = (self._total - done - rows) / max(rate, 1e-9)
                print(
                    f'progress stage=rehearsal step="copy {name}" done={done + rows}/{self._total} '
                    f"rows_per_s={rate:.0f} eta_s={left:.0f}",
                    file=sys.stderr,
                    flush=True,
                )

    def _flush_plain(self, failed: bool = False) -> None:
        if self._plain is not None:
            name, done, t0 = self._plain
            # After a failure the rows loaded so far were rolled back or are being replaced: not "copied".
            text = f"copy of {name} failed after {done:,} rows" if failed else f"copied {name}: {done:,} rows"
            print(f"{text} in {time.perf_counter() - t0:.2f} s", file=sys.stderr, flush=True)
            self._plain = None

    def stop(self, *, failed: bool = False) -> None:
        self._flush_plain(failed)
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
