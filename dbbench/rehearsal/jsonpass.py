"""JSON the copy writes another way, compared by value in ranges whose digest sums agreed.

PostgreSQL's jsonb text holds non-ASCII characters as they are; Django on the MySQL family writes ``\\u`` escapes,
and so does the copy (``dbbench.rehearsal.source.json_field``). The texts differ while the values are equal, so
the row digests hash a marker for such values on both sides (``fields.digest_sql``) and this pass reads only
those values back, per id range, and compares them parsed. Without it, every range holding one such row would be
read back whole (at 1M books with half their JSON non-ASCII: minutes instead of seconds).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from django.db.models import Model

from dbbench.rehearsal.fields import kind_of, same, text_sql
from dbbench.rehearsal.side import Side
from dbbench.rehearsal.verify import RowDifference, TableCheck


def compare_json(
    model: type[Model],
    source: Side,
    target: Side,
    pool: ThreadPoolExecutor,
    check: TableCheck,
    ranges: Sequence[tuple[int, int]],
    limit: int,
    skip: set[Any] | frozenset[Any] = frozenset(),
) -> None:
    """Compare by value the marked JSON values of ``model`` in the id ``ranges`` (inclusive bounds), except rows
    in ``skip`` (compared value by value already)."""
    fields = [f for f in model._meta.local_concrete_fields if kind_of(f) == "JSONField"]
    if not fields or not ranges:
        return
    for lo, hi in ranges:
        jobs = [pool.submit(_marked, side, model, fields, lo, hi) for side in (source, target)]
        ours, theirs = (job.result() for job in jobs)
        for pk in sorted(ours.keys() | theirs.keys()):
            a, b = ours.get(pk), theirs.get(pk)
            if a is None or b is None or pk in skip:  # marked on one side only: its digest differed
                continue
            changed = {f.attname: (x, y) for f, x, y in zip(fields, a, b, strict=True) if not _same(x, y)}
            if changed:
                check.differing_rows += 1
                if len(check.examples) < limit:
                    check.examples.append(RowDifference(check.table, pk, changed))
            elif a != b:
                check.rewritten += 1


def _same(x: str | None, y: str | None) -> bool:
    # The usual case first: one side's text with its non-ASCII characters escaped is the other's (what Django's
    # json.dumps writes), which needs no parsing; else both are parsed and compared by value.
    if x == y or (x is not None and y is not None and (escaped(x) == y or escaped(y) == x)):
        return True
    return same("JSONField", x, y)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def escaped(text: str) -> str:
    """``text`` with each non-ASCII character as JSON's ``\\u`` escape (a surrogate pair above U+FFFF), as
    ``json.dumps`` writes it. Outside strings JSON has only ASCII, so the value stays the same."""
    return _NON_ASCII.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _marked(side: Side, model: type[Model], fields: list[Any], lo: int, hi: int) -> dict[Any, tuple[Any, ...]]:
    spec = side.target.spec
    pk = spec.quote_name(model._meta.pk.column)
    marked = " OR ".join(spec.json_rewritten_sql(f.column) for f in fields)
    texts = ", ".join(text_sql(spec, f) for f in fields)
    rows = side.query(
        f"SELECT {pk}, {texts} FROM {spec.quote_name(model._meta.db_table)} "
        f"WHERE {pk} BETWEEN {lo:d} AND {hi:d} AND ({marked})"
    )
    return {row[0]: tuple(_text(v) for v in row[1:]) for row in rows}


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value.decode() if isinstance(value, bytes | bytearray) else value
