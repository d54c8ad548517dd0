"""The fastest way each backend takes rows in: COPY (PostgreSQL), LOAD DATA LOCAL INFILE (MySQL/MariaDB),
and Django's ``bulk_create`` as the portable fallback, all fed from the same tab-separated batch file.

Raw rates through the drivers alone on the reference machine (2 cores; PostgreSQL 15, MariaDB 10.11; a narrow
table with one index): COPY 87-94k rows/s, LOAD DATA LOCAL 80-102k rows/s, multi-row INSERT 28-31k rows/s. The
backend-specific SQL lives in ``dbbench.backends.spec`` and its two families.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from django.db import connections
from django.db.models import Field, Model

from dbbench.backends.spec import FOREIGN_KEY, BackendSpec, Deferrable
from dbbench.backends.targets import Target
from dbbench.errors import ConfigError, DbbenchError

FAST = "fast"
BULK_CREATE = "bulk_create"
METHODS = (FAST, BULK_CREATE)
BULK_CREATE_BATCH = 1_000  # ~1 MB of attempts per INSERT: far below MariaDB's 16 MiB max_allowed_packet
# What was dropped for a load and is still to be rebuilt; present only between the two (or after a crash there).
DEFERRED_TABLE = "dbbench_seed_deferred"


class BatchFile:
    """Rows on their way to the server, in a file the loaders read by path.

    On Linux the file is a ``memfd``: it lives in memory, needs no disk, and vanishes with the process even after
    ``kill -9`` (a temporary file would be left behind). Elsewhere it is an ordinary temporary file.
    """

    def __init__(self, label: str) -> None:
        self.rows = 0
        self.nbytes = 0
        if hasattr(os, "memfd_create"):
            self._fd = os.memfd_create(f"dbbench-{label}")
            self.path = f"/proc/self/fd/{self._fd}"
            self._tmp: str | None = None
        else:
            self._fd, self._tmp = tempfile.mkstemp(prefix=f"dbbench-{label}-", suffix=".tsv")
            self.path = self._tmp

    def write(self, chunk: bytes | bytearray, rows: int) -> None:
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view) :]
        self.rows += rows
        self.nbytes += len(chunk)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            if self._tmp:
                os.unlink(self._tmp)

    def __enter__(self) -> BatchFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def choose_method(target: Target, requested: str | None = None) -> str:
    """``fast`` when the server takes the backend's fast path, else ``bulk_create``; or what was asked for."""
    if requested is not None:
        if requested not in METHODS:
            raise ConfigError(f"unknown load method {requested!r} (use {' or '.join(METHODS)})")
        if requested == BULK_CREATE:
            return BULK_CREATE
    with connections[target.name].cursor() as cursor:
        available = target.spec.bulk_load_available(cursor)
    if requested == FAST and not available:
        raise ConfigError(f"{target.name}: the server does not allow {target.spec.bulk_load_name}")
    return FAST if available else BULK_CREATE


def method_name(target: Target, method: str) -> str:
    """What to print: ``COPY``, ``LOAD DATA LOCAL INFILE`` or ``bulk_create``."""
    return target.spec.bulk_load_name if method == FAST else BULK_CREATE


def load(
    target: Target,
    model: type[Model],
    columns: Sequence[str],
    batch: BatchFile,
    method: str,
    convert: Mapping[str, str] | None = None,
    time_zone: str = "UTC",
) -> int:
    """Load a batch file into ``model``'s table inside the caller's transaction; every row must arrive.

    ``convert``: columns whose text the fast path turns into the value with SQL (``BackendSpec.bulk_load``).
    """
    if batch.rows == 0:
        return 0
    table = model._meta.db_table
    if method == FAST:
        with connections[target.name].cursor() as cursor:
            loaded = target.spec.bulk_load(cursor, table, columns, batch.path, convert, time_zone)
    else:
        objects = [model(**row) for row in read_rows(model, columns, batch.path)]
        loaded = len(model._default_manager.using(target.name).bulk_create(objects, batch_size=BULK_CREATE_BATCH))
    if loaded != batch.rows:
        # LOAD DATA LOCAL skips duplicate keys with a mere warning; a short count is the tell.
        raise DbbenchError(f"{target.name}: {table}: loaded {loaded} of {batch.rows} rows")
    return loaded


# --- loading without secondary indexes and foreign keys -------------------------------------------------------
# Any DB-API cursor in autocommit mode will do (Django's or a raw driver's): the seeder and seed-benchmark share it.


def defer_constraints(spec: BackendSpec, cursor: Any, table: str) -> list[Deferrable]:
    """Drop ``table``'s secondary indexes and foreign keys, recording them first in :data:`DEFERRED_TABLE`.

    The record is committed before anything is dropped, so a process killed at any point leaves the next run
    what it needs to rebuild (:func:`rebuild_constraints`). If a record exists already, it is kept as it is.
    """
    if not spec.defers_constraints:  # the family loads with its indexes and keys in place
        return []
    recorded = deferred_constraints(spec, cursor)
    if recorded is not None:
        return recorded
    items = spec.deferrables(cursor, table)
    marker = spec.quote_name(DEFERRED_TABLE)
    cursor.execute(
        f"CREATE TABLE {marker} (position integer PRIMARY KEY, tablename varchar(200) NOT NULL, "
        "kind varchar(20) NOT NULL, name varchar(200) NOT NULL, definition text NOT NULL)"
    )
    for position, item in enumerate(items):
        cursor.execute(
            f"INSERT INTO {marker} (position, tablename, kind, name, definition) VALUES (%s, %s, %s, %s, %s)",
            [position, table, item.kind, item.name, item.definition],
        )
    for sql in spec.drop_deferrables_sql(table, items):
        cursor.execute(sql)
    return items


def deferred_constraints(spec: BackendSpec, cursor: Any) -> list[Deferrable] | None:
    """What :func:`defer_constraints` dropped and is not rebuilt yet; None when nothing is pending."""
    cursor.execute(spec.list_tables_sql())
    if DEFERRED_TABLE not in {row[0] for row in cursor.fetchall()}:
        return None
    cursor.execute(f"SELECT kind, name, definition FROM {spec.quote_name(DEFERRED_TABLE)} ORDER BY position")
    return [Deferrable(kind, name, definition) for kind, name, definition in cursor.fetchall()]


def rebuild_constraints(spec: BackendSpec, cursor: Any) -> int:
    """Re-create what :func:`defer_constraints` recorded and is missing now, check every foreign key against the
    rows, then drop the record; returns how many were re-created. Safe to repeat after a crash at any point."""
    recorded = deferred_constraints(spec, cursor)
    if recorded is None:
        return 0
    cursor.execute(f"SELECT DISTINCT tablename FROM {spec.quote_name(DEFERRED_TABLE)}")
    tables = [row[0] for row in cursor.fetchall()]
    if len(tables) > 1:
        raise DbbenchError(f"{DEFERRED_TABLE} records {len(tables)} tables; dbbench writes one")
    if not tables:  # killed between creating the record and filling it: nothing was dropped yet
        cursor.execute(f"DROP TABLE {spec.quote_name(DEFERRED_TABLE)}")
        return 0
    (table,) = tables
    present = {(i.kind, i.name) for i in spec.deferrables(cursor, table)}
    missing = [i for i in recorded if (i.kind, i.name) not in present]
    for sql in spec.create_deferrables_sql(table, missing):
        cursor.execute(sql)
    for item in recorded:
        if item.kind == FOREIGN_KEY:
            spec.validate_foreign_key(cursor, table, item.name)
    cursor.execute(f"DROP TABLE {spec.quote_name(DEFERRED_TABLE)}")
    return len(missing)


def read_rows(model: type[Model], columns: Sequence[str], path: str) -> list[dict[str, Any]]:
    """Parse a batch file back into field values (the ``bulk_create`` fallback and tests use it)."""
    # Concrete columns only (a batch file holds no relation objects): each is a Field.
    fields = [cast(Field, model._meta.get_field(c.removesuffix("_id"))) for c in columns]
    kinds = [f.get_internal_type() for f in fields]
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            values = [_unescape(v) for v in line.rstrip("\n").split("\t")]
            rows.append({col: _convert(kind, v) for col, kind, v in zip(columns, kinds, values, strict=True)})
    return rows


_ESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def _unescape(text: str) -> str | None:
    if text == "\\N":
        return None
    if "\\" not in text:
        return text
    out, chars = [], iter(text)
    for c in chars:
        out.append(_ESCAPES[next(chars)] if c == "\\" else c)
    return "".join(out)


def _convert(kind: str, text: str | None) -> Any:
    if text is None:
        return None
    if kind == "DateTimeField":
        return datetime.fromisoformat(text).replace(tzinfo=UTC)  # the file's timestamps are naive UTC
    if kind == "JSONField":
        return json.loads(text)
    if kind.endswith(("IntegerField", "AutoField")) or kind == "ForeignKey":
        return int(text)
    return text
