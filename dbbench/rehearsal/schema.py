"""Is the source the database the project's migrations describe? Checked before anything is copied.

Three things must agree: the migrations applied on the source with the project's migration graph (a source behind
has unapplied migrations, one ahead has migrations the project does not know), each model's table, and each
table's columns with the model's fields. Columns of a type no other family has (arrays, hstore, citext, ranges,
search vectors) are refused up front with the ``dbbench audit`` rule that explains each.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Model

from dbbench.backends.targets import Target
from dbbench.errors import ConfigError, DbbenchError, mask_secrets


class SchemaMismatch(ConfigError):
    """The source's schema is not the one the project's migrations describe."""


def source_tables(src: Target) -> set[str]:
    from django.db import Error, connections

    errors: tuple[type[BaseException], ...] = (Error, *src.spec.driver_errors)
    try:
        return set(connections[src.name].introspection.table_names())
    except errors as exc:
        text = mask_secrets(" ".join(str(exc).split()), [src])
        raise DbbenchError(f"{src.name}: cannot read {src.safe_url}: {text}") from None


def check_migrations(src: Target, tables: set[str]) -> None:
    """The source's applied migrations are exactly the project's (installed apps with migrations)."""
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader

    if "django_migrations" not in tables:
        raise SchemaMismatch(f"{src.name}: {src.safe_url} is not a Django project's database: no django_migrations")
    loader = MigrationLoader(connections[src.name], ignore_no_migrations=True)
    known = set(loader.graph.nodes)
    applied = set(loader.applied_migrations or {})
    ahead = sorted(m for m in applied - known if m[0] in loader.migrated_apps)
    if ahead:
        app, name = ahead[0]
        more = f" (and {len(ahead) - 1} more)" if len(ahead) > 1 else ""
        raise SchemaMismatch(
            f"{src.name}: the source is ahead of the project: migration {app}.{name}{more} is applied there and "
            "the project has no such migration"
        )
    plan = [m for leaf in loader.graph.leaf_nodes() for m in loader.graph.forwards_plan(leaf)]
    behind = [m for m in dict.fromkeys(plan) if m not in applied]
    if behind:
        app, name = behind[0]
        more = f" (and {len(behind) - 1} more)" if len(behind) > 1 else ""
        raise SchemaMismatch(
            f"{src.name}: the source is behind the project: migration {app}.{name}{more} is not applied there "
            "(run the project's migrate on the source first)"
        )


def check_columns(src: Target, models: Sequence[type[Model]], tables: set[str]) -> None:
    """Every model's table and columns are on the source, and the source has no column the models lack."""
    missing = [m._meta.db_table for m in models if m._meta.db_table not in tables]
    if missing:
        raise SchemaMismatch(f"{src.name}: the source has no table {missing[0]}, which the project's models have")
    columns = _columns(src)
    for model in models:
        table = model._meta.db_table
        have = {c for (t, c) in columns if t == table}
        want = {f.column for f in model._meta.local_concrete_fields}
        if want - have:
            raise SchemaMismatch(
                f"{src.name}: the source is behind the project: column {table}.{sorted(want - have)[0]} is missing"
            )
        if have - want:
            raise SchemaMismatch(
                f"{src.name}: the source is ahead of the project: column {table}.{sorted(have - want)[0]} is not "
                "in the project's models"
            )


def refuse_unportable(src: Target, models: Sequence[type[Model]]) -> None:
    """Columns of a type only the source's family has, named with the audit rule that explains each."""
    kinds = src.spec.unportable_types
    if not kinds:
        return
    tables = {m._meta.db_table for m in models}
    found = sorted(
        f"{t}.{c} ({typ.lower()}, audit rule {kinds[typ]})"
        for (t, c), typ in _columns(src).items()
        if t in tables and typ in kinds
    )
    if found:
        raise ConfigError(
            f"{src.name}: columns of types the target family does not have, copy refused: {', '.join(found)}; "
            "see `dbbench audit` for what to use instead"
        )


def _columns(src: Target) -> dict[tuple[str, str], str]:
    from django.db import connections

    with connections[src.name].cursor() as cursor:
        cursor.execute(src.spec.columns_sql())
        return {(t, c): str(typ) for t, c, typ, _, _ in cursor.fetchall()}
