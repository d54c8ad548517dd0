"""Migration probes: table names past the identifier limit, and re-running a migration that failed half-way.

Throw-away migrations (app label ``paritylab_ddl``, never recorded in django_migrations); every table they leave
behind is dropped. DDL runs outside savepoints: the MySQL family commits it at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, connections, migrations, models

from dbbench.parity.probes import probe
from dbbench.parity.probes.ddl import _TABLE, _apply, _dropping_scratch_table, _fail, _migration, _StepFailed

# 72 characters, the first 63 shared: past PostgreSQL's 63 and MariaDB's 64-character identifier limits.
_LONG_PREFIX = "paritylab_ddl_" + "l" * 52
_LONG_NAMES = (_LONG_PREFIX + "_first", _LONG_PREFIX + "_other")


def _outcome(action: Any) -> str:
    try:
        action()
    except (DatabaseError, _StepFailed) as exc:
        return type(exc).__name__
    return "ok"


@contextmanager
def _dropping_long_tables(alias: str) -> Iterator[None]:
    try:
        yield
    finally:
        connection = connections[alias]
        for table in connection.introspection.table_names():
            if table.startswith(_LONG_PREFIX[:40]):
                with connection.cursor() as cursor:
                    cursor.execute(f"DROP TABLE {connection.ops.quote_name(table)}")


def _create_long(alias: str, name: str) -> None:
    fields: list[tuple[str, models.Field[Any, Any]]] = [("id", models.BigAutoField(primary_key=True))]
    model = name.rsplit("_", 1)[1].capitalize()
    _apply(alias, _migration(migrations.CreateModel(model, fields, options={"db_table": name})))


@probe(
    "ddl",
    "two models with db_table names of 72 characters that share their first 63",
    hint="keep db_table names (and index names) within 63 characters: PostgreSQL truncates longer names "
    "silently (so two names sharing a prefix collide), MariaDB refuses names past 64",
)
def long_table_name(alias: str) -> Any:
    with _dropping_long_tables(alias):
        outcomes = [_outcome(lambda name=name: _create_long(alias, name)) for name in _LONG_NAMES]
        tables = connections[alias].introspection.table_names()
        lengths = sorted(len(t) for t in tables if t.startswith(_LONG_PREFIX[:40]))
        return {"first": outcomes[0], "second": outcomes[1], "created_name_lengths": lengths}


@probe(
    "ddl",
    "a migration creates a table, then its next step fails; the migration is run again",
    hint="on the MySQL family a failed migration leaves its earlier steps applied: repair by hand (drop what it "
    "created, or migrate --fake past the step) before re-running; keep one schema change per migration",
)
def rerun_failed_migration(alias: str) -> Any:
    def failing() -> migrations.Migration:
        create = migrations.CreateModel(
            "Scratch", [("id", models.BigAutoField(primary_key=True)), ("n", models.IntegerField())]
        )
        return _migration(create, migrations.RunPython(_fail))

    with _dropping_scratch_table(alias):
        first = _outcome(lambda: _apply(alias, failing()))
        second = _outcome(lambda: _apply(alias, failing()))
        return {"first": first, "second": second, "table": _TABLE in connections[alias].introspection.table_names()}
