"""Constraint and index probes: conditional and functional unique constraints, functional and text indexes.

Each creates a throw-away table (as :mod:`ddl` does), reports which indexes the database really has and whether a
duplicate gets in, then drops the table. MariaDB has no partial or expression indexes: Django skips them there
without an error (``manage.py check`` warns, ``migrate`` succeeds).
"""

from __future__ import annotations

from typing import Any

from django.db import connections, migrations, models
from django.db.models import Index, Q, UniqueConstraint
from django.db.models.functions import Lower

from dbbench.parity.probes import attempt, probe
from dbbench.parity.probes.ddl import _TABLE, _apply, _dropping_scratch_table, _migration


def _create(alias: str, *, body_index: bool = False, **options: Any) -> None:
    fields: list[tuple[str, models.Field[Any, Any]]] = [
        ("id", models.BigAutoField(primary_key=True)),
        ("email", models.CharField(max_length=100)),
        ("active", models.BooleanField(default=True)),
        ("body", models.TextField(db_index=body_index, default="")),
    ]
    _apply(alias, _migration(migrations.CreateModel("Scratch", fields, options=options)))


def _indexes(alias: str) -> int:
    """How many indexes and constraints, beyond the primary key, the scratch table has."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, _TABLE)
    return sum(1 for c in found.values() if not c["primary_key"] and (c["index"] or c["unique"]))


def _insert(alias: str, *rows: tuple[str, bool]) -> None:
    with connections[alias].cursor() as cursor:
        for email, active in rows:
            cursor.execute(f"INSERT INTO {_TABLE} (email, active, body) VALUES (%s, %s, '')", [email, active])


def _duplicates(alias: str, options: dict[str, Any], *rows: tuple[str, bool]) -> Any:
    with _dropping_scratch_table(alias):
        _create(alias, **options)
        return {"indexes": _indexes(alias), "duplicate": attempt(alias, lambda: _insert(alias, *rows))}


_NO_PARTIAL_HINT = (
    "on the MySQL family enforce it another way: a unique constraint on a generated column that is NULL when the "
    "condition is false, a check in the application inside a locked transaction, or a separate table; "
    "connection.features.supports_partial_indexes / supports_expression_indexes say where Django creates them"
)


@probe(
    "constraints",
    "UniqueConstraint(fields=['email'], condition=Q(active=True)): two active rows with the same email",
    hint=_NO_PARTIAL_HINT,
)
def conditional_unique_constraint(alias: str) -> Any:
    unique = UniqueConstraint(fields=["email"], condition=Q(active=True), name="paritylab_scratch_active_email")
    return _duplicates(alias, {"constraints": [unique]}, ("a@example.org", True), ("a@example.org", True))


@probe(
    "constraints",
    "UniqueConstraint(Lower('email')): 'a@example.org' next to 'A@example.org'",
    hint=_NO_PARTIAL_HINT + " (or lower-case the value before saving and use a plain unique field)",
)
def functional_unique_lower(alias: str) -> Any:
    unique = UniqueConstraint(Lower("email"), name="paritylab_scratch_lower_email")
    return _duplicates(alias, {"constraints": [unique]}, ("a@example.org", True), ("A@example.org", True))


@probe(
    "constraints",
    "Index(Lower('email')): is the index created?",
    hint="on the MySQL family index a generated column holding LOWER(email) (or rely on a case-insensitive "
    "collation and a plain index); connection.features.supports_expression_indexes is False on MariaDB",
)
def functional_index_lower(alias: str) -> Any:
    with _dropping_scratch_table(alias):
        _create(alias, indexes=[Index(Lower("email"), name="paritylab_scratch_lower_idx")])
        return {"indexes": _indexes(alias)}


@probe(
    "constraints",
    "TextField(db_index=True): is the index created?",
    hint="index a CharField(max_length=...) instead, or a prefix index by hand (RunSQL) on the MySQL family: "
    "MariaDB cannot index a TEXT column without a prefix length, and Django skips it (check warns: fields.W162)",
)
def textfield_db_index(alias: str) -> Any:
    with _dropping_scratch_table(alias):
        _create(alias, body_index=True)
        return {"indexes": _indexes(alias)}
