"""Before a data copy: the values on the source that the target's columns cannot hold, per column, with a count
and an example key, found by queries on the source (and the target's collation for unique keys).

What is looked for depends on the target family's ``BackendSpec`` (``case_insensitive_unique``, ``date_range``,
``finite_floats_only``, ``duration_limit_us``):

- values of a single-column unique key (or a text primary key) that differ only in case, accents or trailing
  spaces: candidates are grouped on the source by ``fold_text_sql``, then each candidate pair is compared under the
  target column's own collation, on the target server, so only real collisions are listed;
- dates and datetimes outside the target's documented range (MariaDB and MySQL: years 1000 to 9999);
- Infinity and NaN in float columns;
- durations beyond the target's signed bigint of microseconds (~292,000 years; PostgreSQL allows 178 million).

PostgreSQL's UTF8 holds no character that utf8mb4 cannot, so no character check is needed for Django's tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Model

from dbbench.backends.targets import Target
from dbbench.errors import ConfigError
from dbbench.rehearsal.fields import kind_of
from dbbench.rehearsal.source import pk_columns

TEXT_KINDS = ("CharField", "TextField", "SlugField", "EmailField", "URLField", "FilePathField", "FileField")
CANDIDATE_GROUPS = 1000  # fold groups confirmed per column at most: more are counted from the first ones


@dataclass
class Finding:
    table: str
    column: str
    problem: str
    rows: int
    example: str  # the key of one such row

    def describe(self) -> str:
        return f"{self.table}.{self.column}: {self.problem}: {self.rows} rows, e.g. key {self.example}"

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "problem": self.problem, "rows": self.rows,
                "example_key": self.example}  # fmt: skip


class TargetCannotHold(ConfigError):
    """Rows on the source that the target cannot hold: listed, nothing copied."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        listed = "; ".join(f.describe() for f in findings)
        super().__init__(f"the target cannot hold {sum(f.rows for f in findings)} values, nothing copied: {listed}")


def precheck(src: Target, dst: Target, models: Sequence[type[Model]]) -> list[Finding]:
    """Every value of ``models``' tables on ``src`` that ``dst``'s columns cannot hold (Django aliases set up)."""
    from django.db import connections

    found: list[Finding] = []
    collations = _collations(dst)
    prefixes = _prefixes(dst)
    with connections[src.name].cursor() as cursor:
        for model in models:
            for field in model._meta.local_concrete_fields:
                found += _field(cursor, src, dst, model, field, collations)
                length = prefixes.get((model._meta.db_table, field.column))
                if length:
                    found += _prefix_duplicates(cursor, src, model, field, length)
    return found


def _prefixes(dst: Target) -> dict[tuple[str, str], int]:
    """(table, column) -> characters of the target's unique keys on a column prefix."""
    from django.db import connections

    sql = dst.spec.prefix_unique_sql()
    if sql is None:
        return {}
    with connections[dst.name].cursor() as cursor:
        cursor.execute(sql)
        return {(str(t), str(c)): int(n) for t, c, n in cursor.fetchall()}


def _prefix_duplicates(cursor: Any, src: Target, model: type[Model], field: Any, length: int) -> list[Finding]:
    """Rows whose value starts with the same ``length`` characters as an earlier row's (a prefix unique key)."""
    spec = src.spec
    table = spec.quote_name(model._meta.db_table)
    prefix = f"SUBSTRING({spec.quote_name(field.column)} FROM 1 FOR {length:d})"
    keys = ", ".join(spec.quote_name(c) for c in pk_columns(model))
    cursor.execute(
        f"SELECT COUNT(*) - COUNT(DISTINCT {prefix}) FROM {table} WHERE {spec.quote_name(field.column)} IS NOT NULL"
    )
    rows = int(cursor.fetchone()[0])
    if not rows:
        return []
    desc = ", ".join(f"{spec.quote_name(c)} DESC" for c in pk_columns(model))
    cursor.execute(
        f"SELECT {keys} FROM {table} WHERE {prefix} IN (SELECT {prefix} FROM {table} GROUP BY 1 HAVING COUNT(*) > 1) "
        f"ORDER BY {desc} LIMIT 1"
    )
    example = _key(cursor.fetchone())
    problem = f"too long for the target's unique key on its first {length} characters (prefix duplicates)"
    return [Finding(model._meta.db_table, field.column, problem, rows, example)]


def _field(
    cursor: Any, src: Target, dst: Target, model: type[Model], field: Any, collations: dict[tuple[str, str], str]
) -> list[Finding]:
    spec, target = src.spec, dst.spec
    table, column = model._meta.db_table, field.column
    q = spec.quote_name(column)
    kind = kind_of(field)
    checks: list[tuple[str, str]] = []
    if target.date_range and kind in ("DateField", "DateTimeField"):
        lo, hi = target.date_range
        upper = hi if kind == "DateField" else f"{hi} 23:59:59.999999"
        checks.append((f"{q} < '{lo}' OR {q} > '{upper}'", f"outside the target's date range {lo} to {hi}"))
    if target.finite_floats_only and kind == "FloatField":
        checks.append((spec.nonfinite_sql(column), "out of range (Infinity or NaN)"))
    if target.duration_limit_us and kind == "DurationField":
        limit = target.duration_limit_us / 1_000_000
        checks.append((f"abs({spec.duration_text_sql(column)}) > {limit:.6f}", "out of range (duration)"))
    found = [f for sql, problem in checks if (f := _count(cursor, spec, model, column, sql, problem))]
    unique = field.unique or field.primary_key
    if target.case_insensitive_unique and unique and kind in TEXT_KINDS:
        collation = collations.get((table, column), "")
        if collation and not collation.endswith("_bin"):
            found += _duplicates(cursor, src, dst, model, field, collation)
    return found


def _count(cursor: Any, spec: Any, model: type[Model], column: str, where: str, problem: str) -> Finding | None:
    table = spec.quote_name(model._meta.db_table)
    keys = ", ".join(spec.quote_name(c) for c in pk_columns(model))
    cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}")
    rows = int(cursor.fetchone()[0])
    if not rows:
        return None
    cursor.execute(f"SELECT {keys} FROM {table} WHERE {where} ORDER BY {keys} LIMIT 1")
    return Finding(model._meta.db_table, column, problem, rows, _key(cursor.fetchone()))


def _duplicates(cursor: Any, src: Target, dst: Target, model: type[Model], field: Any, collation: str) -> list[Finding]:
    """Rows whose unique value equals an earlier row's under ``collation`` (on the target server)."""
    spec = src.spec
    table = spec.quote_name(model._meta.db_table)
    fold = spec.fold_text_sql(field.column)
    cursor.execute(
        f"SELECT {fold} FROM {table} WHERE {spec.quote_name(field.column)} IS NOT NULL "
        f"GROUP BY 1 HAVING COUNT(*) > 1 LIMIT {CANDIDATE_GROUPS:d}"
    )
    groups = [row[0] for row in cursor.fetchall()]
    if not groups:
        return []
    keys = ", ".join(spec.quote_name(c) for c in pk_columns(model))
    colliding: list[tuple[Any, ...]] = []
    with dst.spec.connection(dst, dst.database) as conn:
        target = conn.cursor()
        equal = dst.spec.collation_equal_sql().format(collation)
        for group in groups:
            cursor.execute(
                f"SELECT {spec.quote_name(field.column)}, {keys} FROM {table} WHERE {fold} = %s ORDER BY {keys}",
                [group],
            )
            rows = cursor.fetchall()
            kept: list[str] = []
            for value, *key in rows:
                if any(_equal(target, equal, value, other) for other in kept):
                    colliding.append(tuple(key))
                else:
                    kept.append(value)
    if not colliding:
        return []
    problem = f"duplicate under the target's collation {collation}"
    return [Finding(model._meta.db_table, field.column, problem, len(colliding), _key(colliding[0]))]


def _equal(cursor: Any, sql: str, a: str, b: str) -> bool:
    cursor.execute(sql, [a, b])
    return bool(cursor.fetchone()[0])


def _collations(dst: Target) -> dict[tuple[str, str], str]:
    from django.db import connections

    with connections[dst.name].cursor() as cursor:
        cursor.execute(dst.spec.columns_sql())
        return {(t, c): str(coll or "") for t, c, _, _, coll in cursor.fetchall()}


def _key(row: Sequence[Any]) -> str:
    return ",".join(str(v) for v in row)
