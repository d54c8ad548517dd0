"""Schema probes: a migration that fails half-way, and a unique index on a long string column.

Each applies a throw-away migration (app label ``paritylab_ddl``, never recorded in django_migrations) and drops
whatever table it left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from django.db import connections, migrations, models
from django.db.migrations.state import ProjectState

from dbbench.parity.probes import attempt, probe

_TABLE = "paritylab_ddl_scratch"


class _StepFailed(Exception):
    """The deliberate failure of a migration's second step."""


def _fail(apps: object, schema_editor: object) -> None:
    raise _StepFailed("second step of the migration fails on purpose")


def _migration(*operations: migrations.operations.base.Operation) -> migrations.Migration:
    migration = migrations.Migration("0001_probe", "paritylab_ddl")
    migration.operations = list(operations)  # type: ignore[misc]  # Django's way: a Migration's operations per instance
    return migration


def _apply(alias: str, migration: migrations.Migration) -> None:
    with connections[alias].schema_editor(atomic=True) as editor:
        migration.apply(ProjectState(), editor)


def _table_exists(alias: str) -> bool:
    return _TABLE in connections[alias].introspection.table_names()


@contextmanager
def _dropping_scratch_table(alias: str) -> Iterator[None]:
    try:
        yield
    finally:
        if _table_exists(alias):
            connection = connections[alias]
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE {connection.ops.quote_name(_TABLE)}")


@probe(
    "ddl",
    "a migration creates a table, then its next step fails: is the table still there?",
    hint="keep one schema change per migration and make RunPython steps idempotent; on the MySQL family a "
    "failed migration must be repaired by hand (DDL commits at once; can_rollback_ddl is False)",
)
def ddl_failed_migration(alias: str) -> Any:
    failing = _migration(
        migrations.CreateModel(
            "Scratch", [("id", models.BigAutoField(primary_key=True)), ("n", models.IntegerField())]
        ),
        migrations.RunPython(_fail),
    )
    with _dropping_scratch_table(alias):
        with suppress(_StepFailed):
            _apply(alias, failing)
        return {"table_left_behind": _table_exists(alias)}


@probe(
    "ddl",
    "unique CharField(max_length=1000) (4000 bytes in utf8mb4): is it created, does it still refuse duplicates?",
    hint="none needed on MariaDB (it builds a USING HASH unique key); MySQL 8 refuses keys over 3072 bytes: keep "
    "unique CharFields at max_length <= 768 there",
)
def ddl_long_unique_varchar(alias: str) -> Any:
    long_unique = _migration(
        migrations.CreateModel(
            "Scratch",
            [("id", models.BigAutoField(primary_key=True)), ("text", models.CharField(max_length=1000, unique=True))],
        )
    )

    def insert_twice() -> None:
        with connections[alias].cursor() as cursor:
            for _ in range(2):
                cursor.execute(f"INSERT INTO {_TABLE} (text) VALUES (%s)", ["é" * 1000])

    with _dropping_scratch_table(alias):
        created = attempt(alias, lambda: _apply(alias, long_unique), savepoint=False)
        duplicate = attempt(alias, insert_twice) if created == "ok" else None
        return {"create": created, "duplicate": duplicate}
