"""Comparing a copy with its source on the servers: a digest sum per id range, rows read only where they differ.

Each column is selected as text the same way on both servers (``dbbench.rehearsal.source.text_columns``: JSON as
its text, timestamps as naive UTC to the microsecond, booleans as 1/0), and each server reduces a row to a 60-bit
digest of those texts (``BackendSpec.row_digest_sql``: md5, in C on the server). One pass per table and side sums
the digests per range of ``CHUNK_IDS`` ids, both sides at once: equal counts and sums, equal rows, and only
(range, count, sum) triples cross the network.

A range whose count or sum differs is read back row by row from both sides (at most ``CHUNK_IDS`` rows each:
bounded memory) and compared by id: a row whose digest differs is compared value by value, JSON parsed, so that the
same JSON written another way (key order, spacing, escapes) is not a difference, and the report names the rows
that do differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from decimal import Decimal
from typing import Any

from django.db.models import Model

from dbbench.backends.targets import Target
from dbbench.errors import DbbenchError
from dbbench.rehearsal.fields import digest_sql, kind_of, same
from dbbench.rehearsal.jsonpass import compare_json
from dbbench.rehearsal.side import Side
from dbbench.rehearsal.source import integer_pk, text_columns
from dbbench.rehearsal.verify import DIFF_EXAMPLES, RowDifference, TableCheck

CHUNK_IDS = 10_000  # ids per range: a range that differs is read back whole (~10 MB of attempts per side)
_MOD = 1 << 64  # the checksum's sum is shown modulo this


@contextmanager
def sides(source: Target, target: Target) -> Iterator[tuple[Side, Side, ThreadPoolExecutor]]:
    """Both sides, each in one read-only snapshot for the whole verification, and two threads to query them at once
    (the drivers release the GIL while a server works)."""
    with (
        source.spec.connection(source, source.database) as a,
        target.spec.connection(target, target.database) as b,
        ThreadPoolExecutor(2, thread_name_prefix="dbbench-verify") as pool,
    ):
        for spec, conn in ((source.spec, a), (target.spec, b)):
            spec.begin_read_only_snapshot(conn)
        try:
            yield Side(source, a), Side(target, b), pool
        finally:
            for t, conn in ((source, a), (target, b)):
                with suppress(*t.spec.driver_errors):
                    conn.rollback()


def compare_table(
    model: type[Model],
    source: Side,
    target: Side,
    pool: ThreadPoolExecutor,
    limit: int = DIFF_EXAMPLES,
    *,
    json_marker: bool = False,
) -> TableCheck:
    """Counts, checksums and the first ``limit`` differing rows of ``model``'s table on both sides.

    ``json_marker``: JSON the copy writes another way is digested as a marker and compared by value in its own
    pass (``dbbench.rehearsal.jsonpass``), for tables where many rows hold non-ASCII JSON; the regular expression
    that finds them costs more than it saves where few do (the quiz: 168 s instead of 51 s at 1M attempts)."""
    if not integer_pk(model):
        raise DbbenchError(f"{model._meta.db_table}: the verification reads by integer id; this pk is not one")
    jobs = [pool.submit(_range_sums, side, model, json_marker) for side in (source, target)]
    ours, theirs = (job.result() for job in jobs)
    table = model._meta.db_table
    check = TableCheck(table, _rows(ours), _rows(theirs), _checksum(ours), _checksum(theirs), 0)
    compared: set[Any] = set()  # ids of rows whose digests differed: compared value by value already
    for chunk in sorted(c for c in ours.keys() | theirs.keys() if ours.get(c) != theirs.get(c)):
        lo, hi = _bounds(chunk)
        fetches = [pool.submit(_range_rows, side, model, lo, hi, json_marker) for side in (source, target)]
        _compare_rows(model, fetches[0].result(), fetches[1].result(), check, limit, compared)
    if json_marker:  # JSON digested as a marker (written another way by the copy): compared by value, every range
        ranges = [_bounds(c) for c in sorted(ours.keys() | theirs.keys())]
        compare_json(model, source, target, pool, check, ranges, limit, skip=compared)
    return check


def _select(side: Side, model: type[Model], json_marker: bool = False) -> tuple[str, str, list[str]]:
    """The digest expression, the quoted pk and table, and the column texts of ``model`` on ``side``'s server."""
    spec = side.target.spec
    texts = [expr for _, expr in text_columns(spec, model)]
    digested = [digest_sql(spec, f) for f in model._meta.local_concrete_fields] if json_marker else texts
    return spec.row_digest_sql(digested), spec.quote_name(model._meta.db_table), texts


def _range_sums(side: Side, model: type[Model], json_marker: bool = False) -> dict[int, tuple[int, int]]:
    """{range: (rows, sum of row digests)}, one pass over the table."""
    spec = side.target.spec
    digest, table, _ = _select(side, model, json_marker)
    chunk = spec.chunk_sql(model._meta.pk.column, CHUNK_IDS)
    rows = side.query(f"SELECT {chunk}, COUNT(*), SUM({digest}) FROM {table} GROUP BY 1")
    return {int(c): (int(n), int(s)) for c, n, s in rows}


def _range_rows(side: Side, model: type[Model], lo: int, hi: int, json_marker: bool = False) -> list[tuple[Any, ...]]:
    """(digest, *column texts) of the rows with ids in [lo, hi], in id order."""
    digest, table, texts = _select(side, model, json_marker)
    pk = side.target.spec.quote_name(model._meta.pk.column)
    sql = f"SELECT {digest}, {', '.join(texts)} FROM {table} WHERE {pk} BETWEEN {lo:d} AND {hi:d} ORDER BY {pk}"
    return [(int(row[0]), *(_text(v) for v in row[1:])) for row in side.query(sql)]


def _compare_rows(
    model: type[Model],
    ours: list[tuple[Any, ...]],
    theirs: list[tuple[Any, ...]],
    check: TableCheck,
    limit: int,
    compared: set[Any] | None = None,
) -> None:
    """Merge both sides' rows of one range by id; count and note the rows that differ in value (their ids go
    into ``compared``)."""
    compared = set() if compared is None else compared
    names = [f.attname for f in model._meta.local_concrete_fields]
    kinds = [kind_of(f) for f in model._meta.local_concrete_fields]
    pk_at = 1 + [f.column for f in model._meta.local_concrete_fields].index(model._meta.pk.column)

    def note(pk: Any, changed: dict[str, tuple[Any, Any]]) -> None:
        check.differing_rows += 1
        if len(check.examples) < limit:
            check.examples.append(RowDifference(check.table, pk, changed))

    i = j = 0
    while i < len(ours) or j < len(theirs):
        a = ours[i] if i < len(ours) else None
        b = theirs[j] if j < len(theirs) else None
        if b is None or (a is not None and a[pk_at] < b[pk_at]):
            note(a[pk_at], {"row": ("(row present)", "(no such row)")})  # type: ignore[index]
            i += 1
        elif a is None or b[pk_at] < a[pk_at]:
            note(b[pk_at], {"row": ("(no such row)", "(row present)")})
            j += 1
        else:
            if a[0] != b[0]:  # different digests: different text; compare the values
                compared.add(a[pk_at])
                changed = {
                    names[k]: (x, y)
                    for k, (x, y) in enumerate(zip(a[1:], b[1:], strict=True))
                    if not same(kinds[k], x, y)
                }
                if changed:
                    note(a[pk_at], changed)
                else:
                    check.rewritten += 1
            i, j = i + 1, j + 1


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):  # a numeric expression (durations on PostgreSQL): compared as its text
        return str(value)
    return value.decode() if isinstance(value, bytes | bytearray) else value


def _bounds(chunk: int) -> tuple[int, int]:
    """The ids in range ``chunk`` (``chunk_sql``: id / CHUNK_IDS truncated toward zero, so 0 spans both signs)."""
    if chunk > 0:
        return chunk * CHUNK_IDS, (chunk + 1) * CHUNK_IDS - 1
    if chunk < 0:
        return (chunk - 1) * CHUNK_IDS + 1, chunk * CHUNK_IDS
    return -(CHUNK_IDS - 1), CHUNK_IDS - 1


def _rows(sums: dict[int, tuple[int, int]]) -> int:
    return sum(n for n, _ in sums.values())


def _checksum(sums: dict[int, tuple[int, int]]) -> str:
    return f"{_rows(sums)}:{sum(s for _, s in sums.values()) % _MOD:016x}"
