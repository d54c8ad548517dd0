"""A Django project's data as a copy sees it: which tables Django owns, which it does not, and in what order.

Read from Django's app registry of the project loaded in this process (:func:`setup`): every concrete model of
every installed app, contrib apps and auto-created many-to-many tables included; proxies share their parent's
table; unmanaged models and tables that no model owns are listed, never copied.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.db.models import Model

from dbbench.app.detect import Project
from dbbench.errors import ConfigError

SHIM_MODULE = "dbbench_datacopy_settings"
# The project's settings, with DATABASES replaced: the copy's aliases are added per target at run time
# (dbbench.djangoenv.temporary_alias). "default" points at the source, which is only ever read.
SHIM = '''"""Written by dbbench migrate-data: the project's settings, DATABASES pointed at the copy's source."""
import importlib as _importlib
import json as _json
import os as _os

_project = _importlib.import_module(_os.environ["DBBENCH_APP_SETTINGS"])
globals().update({_k: _v for _k, _v in vars(_project).items() if _k.isupper()})
DATABASES = {"default": _json.loads(_os.environ["DBBENCH_APP_TARGET"])}
DATABASE_ROUTERS = []
'''


def setup(project: Project, source_database: dict[str, object]) -> None:
    """Configure Django in this process with ``project``'s settings and ``source_database`` as ``default``.

    The shim goes into a temporary folder of dbbench's, never into the project. Django can be set up once per
    process, so this is the CLI's job (tests run the CLI in a subprocess).
    """
    import json

    import django
    from django.conf import settings

    if settings.configured:
        raise ConfigError("migrate-data --app: Django is already configured in this process")
    folder = Path(tempfile.mkdtemp(prefix="dbbench-datacopy-"))
    # Django imports the shim once, during setup; the folder goes when the process ends, however it ends.
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / f"{SHIM_MODULE}.py").write_text(SHIM, encoding="utf-8")
    for path in reversed([folder, *project.pythonpath]):
        sys.path.insert(0, str(path))
    os.environ.update(
        DJANGO_SETTINGS_MODULE=SHIM_MODULE,
        DBBENCH_APP_SETTINGS=project.settings,
        DBBENCH_APP_TARGET=json.dumps(source_database),
    )
    try:
        django.setup()
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"migrate-data --app: the project needs {exc.name!r}, which is not installed for {sys.executable}"
        ) from None
    except Exception as exc:  # the project's own import error: one line
        raise ConfigError(f"migrate-data --app: settings {project.settings} cannot be loaded: {exc}") from None


@dataclass
class Tables:
    """What a copy of the project's database does with each table."""

    copied: list[type[Model]]  # in load order: referenced tables first, as far as cycles allow
    cyclic: set[str] = field(default_factory=set)  # tables with a key to a table loaded after them
    unmanaged: list[str] = field(default_factory=list)  # "app.Model (table)"
    unowned: list[str] = field(default_factory=list)  # tables on the source that no model owns

    def describe(self) -> list[str]:
        lines = []
        if self.unmanaged:
            lines.append(f"not copied, unmanaged models: {', '.join(self.unmanaged)}")
        if self.unowned:
            lines.append(f"not copied, tables no model owns: {', '.join(self.unowned)}")
        return lines


def project_tables(source_tables: set[str], ignore: set[str]) -> Tables:
    """The project's tables: every concrete managed model's (auto-created many-to-many ones too), ordered."""
    from django.apps import apps

    models: list[type[Model]] = []
    unmanaged: list[str] = []
    seen: set[str] = set()
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or meta.db_table in seen:
            continue
        seen.add(meta.db_table)
        if not meta.managed:
            unmanaged.append(f"{meta.label} ({meta.db_table})")
            continue
        models.append(model)
    owned = seen | ignore
    ordered, cyclic = load_order(models)
    unowned = sorted(t for t in source_tables if t not in owned)
    return Tables(ordered, cyclic, unmanaged, unowned)


def load_order(models: list[type[Model]]) -> tuple[list[type[Model]], set[str]]:
    """Referenced tables first. Where keys form a cycle, a table whose pending keys are all nullable goes first
    (the usual way a cycle is made: a "flagship" pointer back), else the one with the fewest pending keys; it is
    loaded with its keys and indexes in place and checks off (its rows are compared with the source afterwards)."""

    def parents(model: type[Model]) -> set[str]:
        return {
            f.related_model._meta.db_table
            for f in model._meta.local_concrete_fields
            if f.is_relation and isinstance(f.related_model, type) and f.related_model is not model
        }

    def nullable(model: type[Model], pending_tables: set[str]) -> bool:
        return all(
            f.null
            for f in model._meta.local_concrete_fields
            if f.is_relation and isinstance(f.related_model, type) and f.related_model._meta.db_table in pending_tables
        )

    tables = {m._meta.db_table for m in models}
    pending = {m._meta.db_table: parents(m) & tables for m in models}
    by_table = {m._meta.db_table: m for m in models}
    ordered: list[type[Model]] = []
    cyclic: set[str] = set()
    done: set[str] = set()
    while pending:
        ready = sorted(t for t, p in pending.items() if p <= done)
        if not ready:
            first = min(
                pending, key=lambda t: (not nullable(by_table[t], pending[t] - done), len(pending[t] - done), t)
            )
            cyclic.add(first)
            ready = [first]
        for table in ready:
            ordered.append(by_table[table])
            done.add(table)
            del pending[table]
    return ordered, cyclic
