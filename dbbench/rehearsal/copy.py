"""The copying half of the migration rehearsal: stream tables from a source into a target's fast load path.

The source is only read: a raw connection in one read-only snapshot transaction (``BackendSpec``) and a
server-side cursor per table, rows selected as text in the bulk loaders' format (JSON as JSON text, timestamps as
naive UTC with microseconds), in batches. A reader thread converts batch k+1 while the loading thread pushes
batch k through ``dbbench.backends.bulkload`` (COPY / LOAD DATA LOCAL INFILE), one transaction per batch.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from django.db.models import Model

from dbbench import progress as shown
from dbbench.backends import bulkload
from dbbench.backends.bulkload import BatchFile
from dbbench.backends.spec import BackendSpec
from dbbench.backends.targets import Target
from dbbench.errors import DbbenchError, mask_secrets
from dbbench.seed.datagen import NULL, tsv


@dataclass
class TableCopy:
    table: str
    rows: int
    seconds: float  # from the first read to the last commit of this table
    source_bytes: int  # the source table with its indexes, as the source server counts it
    load_seconds: float = 0.0  # of which the target spent loading (the rest: waiting for the reader)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def copy_tables(
    src: Target, dst: Target, models: list[type[Model]], batch_size: int, method: str, progress: bool | None = None
) -> list[TableCopy]:
    """Copy ``models``' tables in this order from ``src`` into ``dst`` (empty tables; Django alias ``dst.name``).

    At most three batches exist at once (one loading, one queued, one being read), so memory stays bounded
    whatever the table size. Ids are copied as they are.
    """
    from django.db import transaction

    bar = Progress.create(progress)
    batches: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()
    reader = threading.Thread(
        target=_read_source, args=(src, models, batch_size, batches, stop), name="dbbench-rehearsal-read", daemon=True
    )
    reader.start()
    copies: list[TableCopy] = []
    current: TableCopy | None = None
    started = time.perf_counter()
    finished = False
    try:
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            kind, model, payload = item
            if kind == "table":  # a table starts: payload = (rows, bytes)
                current = TableCopy(model._meta.db_table, 0, 0.0, payload[1])
                copies.append(current)
                started = time.perf_counter()
                bar.table(current.table, payload[0])
                continue
            assert current is not None
            columns, batch = payload
            load_started = time.perf_counter()
            with batch, transaction.atomic(using=dst.name):
                current.rows += bulkload.load(dst, model, columns, batch, method)
            current.seconds = time.perf_counter() - started
            current.load_seconds += time.perf_counter() - load_started
            bar.advance(batch.rows)
        finished = True
    finally:
        stop.set()
        with suppress(queue.Empty):  # unblock a reader waiting on the full queue
            while True:
                _discard(batches.get_nowait())
        reader.join(timeout=30)
        bar.stop(failed=not finished)
    return copies


def _read_source(
    src: Target, models: list[type[Model]], batch_size: int, out: queue.Queue[Any], stop: threading.Event
) -> None:
    """The reader thread: one read-only snapshot, a server-side cursor per table, batches as bulk-load files."""
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
                columns, select = select_as_text(spec, model)
                convert = _converters(model, columns)
                stream = spec.streaming_cursor(conn, f"dbbench_{table}", batch_size)
                stream.execute(select)
                while rows := stream.fetchmany(batch_size):
                    batch = BatchFile(table)
                    lines = ["\t".join([c(v) for c, v in zip(convert, row, strict=True)]) for row in rows]
                    text = "\n".join(lines) + "\n"
                    batch.write(text.encode(), len(rows))
                    put(("batch", model, (columns, batch)))
                stream.close()
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


def select_as_text(spec: BackendSpec, model: type[Model]) -> tuple[list[str], str]:
    """The columns in load order and a SELECT that returns them in pk order, JSON and timestamps as text."""
    columns: list[str] = []
    exprs: list[str] = []
    for f in model._meta.concrete_fields:
        kind = f.get_internal_type()
        columns.append(f.column)
        if kind == "JSONField":
            exprs.append(spec.json_text_sql(f.column))
        elif kind == "DateTimeField":
            exprs.append(spec.utc_text_sql(f.column))
        else:
            exprs.append(spec.quote_name(f.column))
    pk = spec.quote_name(model._meta.pk.column)
    return columns, f"SELECT {', '.join(exprs)} FROM {spec.quote_name(model._meta.db_table)} ORDER BY {pk}"


def _converters(model: type[Model], columns: list[str]) -> list[Callable[[Any], str]]:
    kinds = {f.column: f.get_internal_type() for f in model._meta.concrete_fields}
    return [json_field if kinds[c] == "JSONField" else field for c in columns]


def field(value: Any) -> str:
    """One value in the bulk-load format: ``\\N`` for NULL, backslash escapes, numbers as digits."""
    if value is None:
        return NULL
    if isinstance(value, str):
        return tsv(value)
    if isinstance(value, bytes):
        return tsv(value.decode())
    return str(value)


def json_field(value: Any) -> str:
    """JSON text in the bulk-load format, with non-ASCII escaped as Django's own writes escape it."""
    if value is None:
        return NULL
    text = value.decode() if isinstance(value, bytes) else value
    if not text.isascii():
        # Django writes json.dumps' \\u escapes and MariaDB keeps the text it is given: the copy then reads like
        # data the app wrote itself (jsonb's text form has the characters themselves). Values stay equal.
        text = json.dumps(json.loads(text))
    return tsv(text)


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
            self._plain = (name, 0, time.perf_counter())

    def advance(self, rows: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, rows)
        elif self._plain is not None:
            name, done, t0 = self._plain
            self._plain = (name, done + rows, t0)

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
