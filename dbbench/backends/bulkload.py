"""The fastest way each backend takes rows in: COPY (PostgreSQL), LOAD DATA LOCAL INFILE (MySQL/MariaDB),
and Django's ``bulk_create`` as the portable fallback, all fed from the same tab-separated batch file.

Raw rates on this project's machines (``/work/shared/LIMITS.md``): COPY 87-94k rows/s, LOAD DATA LOCAL
80-102k rows/s, multi-row INSERT 28-31k rows/s. The backend-specific SQL lives in ``dbbench.backends.spec``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connections
from django.db.models import Model

from dbbench.backends.targets import Target
from dbbench.errors import ConfigError, DbbenchError

FAST = "fast"
BULK_CREATE = "bulk_create"
METHODS = (FAST, BULK_CREATE)
BULK_CREATE_BATCH = 1_000  # ~1 MB of attempts per INSERT: far below MariaDB's 16 MiB max_allowed_packet


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

    def write(self, chunk: bytes, rows: int) -> None:
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


def load(target: Target, model: type[Model], columns: Sequence[str], batch: BatchFile, method: str) -> int:
    """Load a batch file into ``model``'s table inside the caller's transaction; every row must arrive."""
    if batch.rows == 0:
        return 0
    table = model._meta.db_table
    if method == FAST:
        with connections[target.name].cursor() as cursor:
            loaded = target.spec.bulk_load(cursor, table, columns, batch.path)
    else:
        objects = [model(**row) for row in read_rows(model, columns, batch.path)]
        loaded = len(model._default_manager.using(target.name).bulk_create(objects, batch_size=BULK_CREATE_BATCH))
    if loaded != batch.rows:
        # LOAD DATA LOCAL skips duplicate keys with a mere warning; a short count is the tell.
        raise DbbenchError(f"{target.name}: {table}: loaded {loaded} of {batch.rows} rows")
    return loaded


def read_rows(model: type[Model], columns: Sequence[str], path: str) -> list[dict[str, Any]]:
    """Parse a batch file back into field values (the ``bulk_create`` fallback and tests use it)."""
    fields = [model._meta.get_field(c.removesuffix("_id")) for c in columns]
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
