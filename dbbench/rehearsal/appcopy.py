"""Rehearse moving any Django project's database: ``dbbench migrate-data --app PATH``.

The project is loaded in this process (``dbbench.rehearsal.project.setup``: its settings through a shim). Then:

1. The source is checked, only read (``read_only``): its applied migrations are the project's, every model's
   table and columns are there and no column is of a type only PostgreSQL has (``dbbench.rehearsal.schema``).
2. The copy's database (``<target database>_appcopy`` unless ``--into``) is dbbench's own: created and marked,
   refused when it holds tables the project does not make, and built by the project's own migrations.
3. The pre-copy check (``dbbench.rehearsal.precheck``) lists what the target cannot hold; then nothing is copied.
4. Every table Django owns is copied in dependency order (``dbbench.rehearsal.copy``, one read-only snapshot),
   values converted per field type (``dbbench.rehearsal.fields``), ids continued.
5. Every table is compared on the servers (digests per id range, or per key bucket for keys that are not integers:
   ``dbbench.rehearsal.keyed``), then each model's first and last rows are read through the project's models on
   both sides and compared (the ORM smoke test).

An interrupted copy is marked incomplete before its first row; the next run empties it and copies again.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model

from dbbench import djangoenv
from dbbench.backends import bulkload
from dbbench.backends.database import MARKER_TABLE, ensure_database, exclusive, is_owned
from dbbench.backends.targets import Target
from dbbench.errors import ConfigError
from dbbench.rehearsal import precheck as checks
from dbbench.rehearsal import schema
from dbbench.rehearsal.compare import compare_table, sides
from dbbench.rehearsal.copy import analyze, continue_ids, copy_tables, restore_deferred
from dbbench.rehearsal.estimate import Point
from dbbench.rehearsal.keyed import compare_keyed
from dbbench.rehearsal.project import Tables, project_tables
from dbbench.rehearsal.rehearse import (
    COMPLETE,
    DEFAULT_BATCH,
    FAILED,
    INCOMPLETE,
    STATE_TABLE,
    Rehearsal,
    _claim,
    _endpoint,
    _mark,
    _state,
    django_alias,
    refuse_same_database,
)
from dbbench.rehearsal.smoke import smoke_test
from dbbench.rehearsal.source import integer_pk
from dbbench.rehearsal.verify import conversions, read_only

SUFFIX = "_appcopy"
# dbbench's own tables and Django's migration record: never the project's data.
BOOKKEEPING = {MARKER_TABLE, STATE_TABLE, bulkload.DEFERRED_TABLE, "django_migrations"}


@dataclass
class AppRehearsal(Rehearsal):
    project: str = ""
    tables: Tables | None = None
    findings: list[checks.Finding] = field(default_factory=list)
    size_unit = "rows (largest table)"

    @property
    def attempts(self) -> int:
        """The size the downtime is fitted to: the largest table's rows."""
        return max((c.source_rows for c in self.checks), default=0)

    @property
    def growing(self) -> set[str]:
        return {c.table for c in self.checks}

    def as_dict(self) -> dict[str, Any]:
        data = super().as_dict()
        data.update(
            project=self.project,
            size_measure="rows of the largest table",
            unmanaged=self.tables.unmanaged if self.tables else [],
            unowned_tables=self.tables.unowned if self.tables else [],
            cyclic_tables=sorted(self.tables.cyclic) if self.tables else [],
            precheck=[f.as_dict() for f in self.findings],
        )
        return data


def copy_target_for(source: Target, target: Target, database: str | None) -> Target:
    name = database or target.database + SUFFIX
    if not re.fullmatch(r"[A-Za-z0-9_]{1,60}", name):
        raise ConfigError(f"bad database name {name!r} for the copy: letters, digits and _ only, at most 60")
    return dataclasses.replace(target.with_database(name), name=target.name[:21] + SUFFIX)


def rehearse_app(
    project: str,
    source: Target,
    target: Target,
    *,
    database: str | None = None,
    replace: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: bool | None = None,
    allow_foreign: bool = False,
    earlier: Sequence[Point] = (),
    verify_only: bool = False,
) -> AppRehearsal:
    """Copy every table of the project loaded in this process from ``source`` into its own database on
    ``target``'s server, verify and time it (``verify_only``: check an existing copy again)."""
    if batch_size < 1:
        raise ConfigError(f"bad batch size {batch_size}: must be at least 1")
    for t in (source, target):
        if not t.spec.copies_projects:
            raise ConfigError(f"{t.name}: migrate-data --app does not copy to or from {t.spec.family} yet")
    copy_target = copy_target_for(source, target, database)
    refuse_same_database(source, copy_target)
    with exclusive(copy_target, "migrate-data"), django_alias(source) as src, django_alias(copy_target) as dst:
        with read_only(src):
            found = _check_source(src)
        result = AppRehearsal(_endpoint(src), _endpoint(dst), batch_size=batch_size, earlier=list(earlier))
        result.project, result.tables = project, found
        models = found.copied
        if verify_only:
            if not is_owned(dst) or _state(dst) is None:
                raise ConfigError(f"no copy to verify in {dst.safe_url}: run migrate-data without --verify-only")
            restore_deferred(dst)
            result.next_ids = continue_ids(dst, models)
        else:
            fresh = _prepare(src, dst, found, allow_foreign=allow_foreign)
            with read_only(src):
                result.findings = checks.precheck(src, dst, models)
                if result.findings:
                    raise checks.TargetCannotHold(result.findings)
                result.source_rows_before = {m._meta.db_table: m._base_manager.using(src.name).count() for m in models}
            method = bulkload.choose_method(dst)
            result.method = bulkload.method_name(dst, method)
            restarted = _claim(src, dst, models, replace=replace)
            result.restarted = None if fresh else restarted  # a new database holds only what migrate wrote
            started = time.perf_counter()
            cyclic = frozenset(found.cyclic)
            result.copies = copy_tables(src, dst, models, batch_size, method, progress, cyclic=cyclic)
            result.next_ids = continue_ids(dst, models)
            analyze(dst, models)
            result.copy_seconds = time.perf_counter() - started
        _verify(result, src, dst, models)
        return result


def _check_source(src: Target) -> Tables:
    tables = schema.source_tables(src)
    schema.check_migrations(src, tables)
    found = project_tables(tables, BOOKKEEPING)
    schema.refuse_unportable(src, found.copied)
    schema.check_columns(src, found.copied, tables)
    return found


def _prepare(src: Target, dst: Target, found: Tables, *, allow_foreign: bool) -> bool:
    """The copy's database: dbbench's, holding nothing but the project's tables, migrated by the project.
    True when no copy was ever started there."""
    from django.db import connections

    ensure_database(dst, allow_foreign=allow_foreign)
    present = set(connections[dst.name].introspection.table_names())
    known = {m._meta.db_table for m in found.copied} | set(found.unowned) | BOOKKEEPING
    known |= {u.rsplit("(", 1)[1].rstrip(")") for u in found.unmanaged}
    strangers = sorted(present - known)
    if strangers:
        raise ConfigError(
            f"{dst.safe_url} holds tables the project does not make ({', '.join(strangers[:3])}); "
            "copy --into another database"
        )
    fresh = _state(dst) is None
    if fresh:
        _mark(dst, INCOMPLETE, src)  # before migrate: its post_migrate rows (content types...) are dbbench's
    djangoenv.migrate(dst)
    return fresh


def _verify(result: AppRehearsal, src: Target, dst: Target, models: list[type[Model]]) -> None:
    result.conversions = conversions(src, dst, models)
    started = time.perf_counter()
    with read_only(src), sides(src, dst) as (ours, theirs, pool):
        for model in models:
            t0 = time.perf_counter()
            if integer_pk(model):
                result.checks.append(compare_table(model, ours, theirs, pool, json_marker=True))
            else:
                result.checks.append(compare_keyed(model, ours, theirs, pool))
            result.verify_table_seconds[model._meta.db_table] = time.perf_counter() - t0
    result.verify_seconds = time.perf_counter() - started
    if all(c.ok for c in result.checks):
        with read_only(src):
            result.smoke_ok, result.smoke = smoke_test(src, dst, models)
    _mark(dst, COMPLETE if result.ok else FAILED, src)
