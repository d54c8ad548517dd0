"""Comparing a table whose key is not an integer (UUID, text, composite) with its source, on the servers.

The id ranges of ``dbbench.rehearsal.compare`` need an integer key, and text keys do not even sort alike on both
sides (collations). Rows are put into buckets by the md5 of their first key column's portable text
(``BackendSpec.text_bucket_sql``: the same bucket on every server), each server sums the row digests per bucket,
and only buckets whose count or sum differ are read back and matched by their key texts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from django.db.models import Field, Model

from dbbench.rehearsal.compare import CHUNK_IDS, Side, _checksum, _rows, _text
from dbbench.rehearsal.fields import kind_of, same, text_sql
from dbbench.rehearsal.source import pk_columns, text_columns
from dbbench.rehearsal.verify import DIFF_EXAMPLES, RowDifference, TableCheck


def compare_keyed(
    model: type[Model], source: Side, target: Side, pool: ThreadPoolExecutor, limit: int = DIFF_EXAMPLES
) -> TableCheck:
    """Counts, checksums and the first ``limit`` differing rows of ``model``'s table on both sides."""
    table = model._meta.db_table
    count = source.query(f"SELECT COUNT(*) FROM {source.target.spec.quote_name(table)}")[0][0]
    buckets = max(1, int(count) // CHUNK_IDS + 1)
    jobs = [pool.submit(_bucket_sums, side, model, buckets) for side in (source, target)]
    ours, theirs = (job.result() for job in jobs)
    check = TableCheck(table, _rows(ours), _rows(theirs), _checksum(ours), _checksum(theirs), 0)
    for bucket in sorted(b for b in ours.keys() | theirs.keys() if ours.get(b) != theirs.get(b)):
        fetches = [pool.submit(_bucket_rows, side, model, buckets, bucket) for side in (source, target)]
        _compare(model, fetches[0].result(), fetches[1].result(), check, limit)
    return check


def _parts(side: Side, model: type[Model], buckets: int) -> tuple[str, str, list[str]]:
    spec = side.target.spec
    texts = [expr for _, expr in text_columns(spec, model)]
    first = cast(Field, model._meta.get_field(_first_key(model)))  # a key column: a concrete field
    bucket = spec.text_bucket_sql(text_sql(spec, first), buckets)
    return bucket, spec.row_digest_sql(texts), texts


def _first_key(model: type[Model]) -> str:
    column = pk_columns(model)[0]
    return next(f.name for f in model._meta.local_concrete_fields if f.column == column)


def _bucket_sums(side: Side, model: type[Model], buckets: int) -> dict[int, tuple[int, int]]:
    bucket, digest, _ = _parts(side, model, buckets)
    table = side.target.spec.quote_name(model._meta.db_table)
    rows = side.query(f"SELECT {bucket}, COUNT(*), SUM({digest}) FROM {table} GROUP BY 1")
    return {int(b): (int(n), int(s)) for b, n, s in rows}


def _bucket_rows(side: Side, model: type[Model], buckets: int, number: int) -> list[tuple[Any, ...]]:
    bucket, digest, texts = _parts(side, model, buckets)
    table = side.target.spec.quote_name(model._meta.db_table)
    sql = f"SELECT {digest}, {', '.join(texts)} FROM {table} WHERE {bucket} = {number:d}"
    return [(int(row[0]), *(_text(v) for v in row[1:])) for row in side.query(sql)]


def _compare(
    model: type[Model], ours: list[tuple[Any, ...]], theirs: list[tuple[Any, ...]], check: TableCheck, limit: int
) -> None:
    fields = model._meta.local_concrete_fields
    names = [f.attname for f in fields]
    kinds = [kind_of(f) for f in fields]
    columns = [f.column for f in fields]
    key_at = [1 + columns.index(c) for c in pk_columns(model)]

    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row[i] for i in key_at)

    def note(pk: tuple[Any, ...], changed: dict[str, tuple[Any, Any]]) -> None:
        check.differing_rows += 1
        if len(check.examples) < limit:
            check.examples.append(RowDifference(check.table, ",".join(map(str, pk)), changed))

    theirs_by_key = {key(row): row for row in theirs}
    for row in ours:
        other = theirs_by_key.pop(key(row), None)
        if other is None:
            note(key(row), {"row": ("(row present)", "(no such row)")})
        elif row[0] != other[0]:
            changed = {
                names[k]: (x, y)
                for k, (x, y) in enumerate(zip(row[1:], other[1:], strict=True))
                if not same(kinds[k], x, y)
            }
            if changed:
                note(key(row), changed)
            else:
                check.rewritten += 1
    for pk in theirs_by_key:
        note(pk, {"row": ("(no such row)", "(row present)")})
