"""Reading the source for the migration rehearsal: each column as text in the bulk loaders' format, in pk order.

Both the copy and the verification select the same text per column (``text_columns``): JSON as JSON text,
timestamps as naive UTC with microseconds, booleans as 1/0, everything else as the server writes it.

Two ways to read a table in batches (``batches``):

- The server writes the text itself (PostgreSQL's ``COPY (SELECT ...) TO STDOUT``, one statement per batch, keyed
  on the pk so each is an index range scan): no value passes through Python. What COPY writes is the bulk-load
  format (``dbbench.seed.datagen.tsv``) except for three escapes (``\\b``, ``\\f``, ``\\v``: LOAD DATA reads the last
  two as letters) and JSON with non-ASCII, which Django escapes; only lines holding one of them are decoded and
  written again (``portable``).
- Any other source: a server-side cursor and one Python conversion per value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from django.db.models import Model

from dbbench.backends.spec import BackendSpec
from dbbench.rehearsal import fields
from dbbench.seed.datagen import NULL, tsv

# (text, rows) of one batch: whole lines in the bulk-load format.
Batch = tuple[bytes | bytearray, int]


def text_columns(spec: BackendSpec, model: type[Model]) -> list[tuple[str, str]]:
    """(column, SQL expression of its text) for every column of ``model``, in load order."""
    return [(f.column, fields.text_sql(spec, f)) for f in model._meta.local_concrete_fields]


def pk_columns(model: type[Model]) -> list[str]:
    """The primary key's columns (several for a ``CompositePrimaryKey``)."""
    pk = model._meta.pk
    return [f.column for f in getattr(pk, "fields", None) or [pk]]


def select_as_text(spec: BackendSpec, model: type[Model]) -> tuple[list[str], str]:
    """The columns in load order and a SELECT that returns them as text in pk order."""
    columns = text_columns(spec, model)
    pk = ", ".join(spec.quote_name(c) for c in pk_columns(model))
    table = spec.quote_name(model._meta.db_table)
    return [c for c, _ in columns], f"SELECT {', '.join(e for _, e in columns)} FROM {table} ORDER BY {pk}"


def integer_pk(model: type[Model]) -> bool:
    kind = fields.kind_of(model._meta.pk)
    return kind.endswith("AutoField") or kind.endswith("IntegerField")


def json_positions(model: type[Model]) -> list[int]:
    return [i for i, f in enumerate(model._meta.local_concrete_fields) if f.get_internal_type() == "JSONField"]


def batches(spec: BackendSpec, conn: Any, model: type[Model], batch_size: int) -> Iterator[Batch]:
    """``model``'s rows in pk order, ``batch_size`` at a time, on ``conn`` (in the caller's snapshot)."""
    if spec.copies_out and integer_pk(model):
        yield from _copied_out(spec, conn, model, batch_size)
    else:
        yield from _converted(spec, conn, model, batch_size)


def _copied_out(spec: BackendSpec, conn: Any, model: type[Model], batch_size: int) -> Iterator[Batch]:
    columns = text_columns(spec, model)
    pk_at = [c for c, _ in columns].index(model._meta.pk.column)
    json_at = json_positions(model)
    pk = spec.quote_name(model._meta.pk.column)
    head = f"SELECT {', '.join(e for _, e in columns)} FROM {spec.quote_name(model._meta.db_table)}"
    cursor = conn.cursor()
    after: int | None = None
    while True:
        where = "" if after is None else f" WHERE {pk} > {after:d}"
        data = bytearray()
        for piece in spec.copy_out(cursor, f"{head}{where} ORDER BY {pk} LIMIT {batch_size:d}"):
            data += piece
        rows = data.count(b"\n")
        if rows == 0:
            break
        last = data[data.rfind(b"\n", 0, len(data) - 1) + 1 : -1]
        after = int(last.split(b"\t")[pk_at])
        yield portable(data, json_at), rows
        if rows < batch_size:
            break
    cursor.close()


def _converted(spec: BackendSpec, conn: Any, model: type[Model], batch_size: int) -> Iterator[Batch]:
    columns, select = select_as_text(spec, model)
    json_at = set(json_positions(model))
    convert = [json_field if i in json_at else field for i in range(len(columns))]
    stream = spec.streaming_cursor(conn, f"dbbench_{model._meta.db_table}", batch_size)
    stream.execute(select)
    while rows := stream.fetchmany(batch_size):
        lines = ["\t".join([c(v) for c, v in zip(convert, row, strict=True)]) for row in rows]
        yield ("\n".join(lines) + "\n").encode(), len(rows)
    stream.close()


# Escapes of COPY's text format outside the bulk-load format (LOAD DATA would read "\f" as "f"; bulk_create's parser
# knows none of them). A false alarm (an escaped backslash before an f) costs a rewrite of the line, nothing more.
_FOREIGN_ESCAPES = (b"\\b", b"\\f", b"\\v")


def portable(data: bytearray, json_at: list[int]) -> bytes | bytearray:
    """COPY text as both loaders read it and as Django writes JSON; unchanged (the same object) when it is."""
    non_ascii_json = bool(json_at) and not data.isascii()
    if not non_ascii_json and not any(e in data for e in _FOREIGN_ESCAPES):
        return data
    lines = bytes(data).split(b"\n")
    lines.pop()  # after the last newline
    for i, line in enumerate(lines):
        if (non_ascii_json and not line.isascii()) or any(e in line for e in _FOREIGN_ESCAPES):
            lines[i] = _rewrite(line, json_at)
    return b"\n".join(lines) + b"\n"


def _rewrite(line: bytes, json_at: list[int]) -> bytes:
    values = [copy_unescape(v) for v in line.decode().split("\t")]
    return "\t".join(json_field(v) if i in json_at else field(v) for i, v in enumerate(values)).encode()


_COPY_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_COPY_CHARS = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def copy_unescape(text: str) -> str | None:
    """One value of COPY's text format (as COPY TO writes it: no octal or hex escapes)."""
    if text == NULL:
        return None
    return _COPY_ESCAPE.sub(lambda m: _COPY_CHARS.get(m[1], m[1]), text)


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
        # data the app wrote itself (jsonb's text form has the characters themselves). MariaDB's JSON_EXTRACT
        # compares that text as it is, so a key lookup from the app would miss "ü" stored unescaped.
        text = json.dumps(json.loads(text))
    return tsv(text)
