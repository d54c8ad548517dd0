"""Child side: what the project's test process writes about each test, one JSON object per line.

Imported inside the project's test process (by :mod:`child_pytest` or :mod:`child_django`), so it imports
nothing of dbbench's and only Django at call time. Each line is flushed as soon as it is written: when a suite
hangs and dbbench stops it, every finished test is already on disk.

Set-up (creating the test databases: migrations, or tables made straight from models) is watched apart from the
tests: :func:`setup_guard` records what was being built when the server refused it (migration, model, field) as
one ``setup_error`` line, so the parent reports one finding instead of one error per test.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

EVENTS_ENV = "DBBENCH_APP_EVENTS"
# The last statements a test ran: enough to show a failing lookup's SQL, small enough for thousands of tests.
SQL_KEPT = 4
SQL_CHARS = 600


def _write(event: dict[str, Any]) -> None:
    path = os.environ.get(EVENTS_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(event, default=str) + "\n")
        handle.flush()


def started(runner: str) -> None:
    """The suite reached its tests with dbbench's settings: which engine and database each alias uses."""
    from django.conf import settings

    databases = {a: {"engine": d.get("ENGINE"), "name": d.get("NAME")} for a, d in settings.DATABASES.items()}
    _write({"event": "start", "runner": runner, "settings": settings.SETTINGS_MODULE, "databases": databases})


def begin(test: str) -> None:
    _write({"event": "begin", "test": test})


def finished(
    test: str,
    outcome: str,
    seconds: float,
    error: dict[str, Any] | None,
    sql: list[dict[str, str]],
    reason: str = "",
) -> None:
    event: dict[str, Any] = {"event": "result", "test": test, "outcome": outcome, "seconds": round(seconds, 6)}
    if reason:
        event["reason"] = reason[:300]  # a skip's reason: why the suite itself left the test out here
    if error:
        event["error"] = error
        event["sql"] = sql
    _write(event)


def collect_error(where: str, message: str) -> None:
    """A test module that could not be imported: the suite crashed before (some of) its tests ran."""
    _write({"event": "collect_error", "where": where, "message": message})


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def describe_error(exc_info: ExcInfo) -> dict[str, Any]:
    """Type, first line of the message and the frames (file, line) of an exception."""
    kind, value, tb = exc_info
    lines = [line.strip() for line in str(value).splitlines() if line.strip()]
    frames = [[frame.filename, frame.lineno or 0] for frame in traceback.extract_tb(tb)] if tb else []
    cause = value.__cause__ or value.__context__
    return {
        "type": kind.__name__,
        "message": lines[0][:500] if lines else "",
        "cause": f"{type(cause).__name__}: {str(cause)[:300]}" if cause else "",
        "frames": frames[-12:],
    }


def _params_text(params: Any) -> str:
    try:
        return json.dumps(params, default=str)[:200]
    except (TypeError, ValueError):
        return repr(params)[:200]


@contextmanager
def capture_sql() -> Iterator[deque[dict[str, str]]]:
    """Keep the last statements run on every database alias (and the error of one that failed)."""
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connections

    kept: deque[dict[str, str]] = deque(maxlen=SQL_KEPT)

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        entry = {"sql": str(sql)[:SQL_CHARS], "params": _params_text(params)}
        kept.append(entry)
        try:
            return execute(sql, params, many, context)
        except Exception as exc:
            entry["error"] = " ".join(str(exc).split())[:300]
            raise

    try:
        wrapped = [connections[alias] for alias in connections]
    except ImproperlyConfigured:  # Django never set up in this process: nothing to watch
        wrapped = []
    for connection in wrapped:
        connection.execute_wrappers.append(wrapper)
    try:
        yield kept
    finally:
        for connection in wrapped:
            if wrapper in connection.execute_wrappers:
                connection.execute_wrappers.remove(wrapper)


# --- set-up: what the test database creation was building when it failed ---------------------------------------

# Filled by the patched migration executor and schema editor; only kept (not restored) when a step raises.
_building: dict[str, Any] = {}
# The exception that stopped the set-up: under pytest every database test then re-raises this same object.
setup_failure: BaseException | None = None


# Every test id of the suite Django's runner built: a class whose setUpClass fails takes its tests with it.
suite_ids: list[str] = []


def setup_failed(error: dict[str, Any], during: dict[str, Any], sql: list[dict[str, str]] | None = None) -> None:
    """A set-up step failed (building the test database, loading a fixture): one line for the whole suite."""
    _write({"event": "setup_error", "error": error, "during": during, "sql": sql or []})


def not_run(tests: list[str]) -> None:
    """Tests that never ran because the set-up failed (Django's runner stops before any test)."""
    _write({"event": "not_run", "tests": tests})


def _remember(cls: type, name: str, describe: Callable[..., dict[str, Any]]) -> None:
    original = getattr(cls, name)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        saved = dict(_building)
        _building.update(describe(*args, **kwargs))
        result = original(self, *args, **kwargs)
        _building.clear()
        _building.update(saved)  # only a step that raised leaves its description behind
        return result

    setattr(cls, name, method)


def _model(model: Any, field: Any = None) -> dict[str, Any]:
    meta = model._meta
    columns = {f.column: f.name for f in meta.local_fields if getattr(f, "column", None)}
    return {"model": meta.label, "field": getattr(field, "name", None), "columns": columns}


def watch_setup() -> None:
    """Make Django's migration executor and schema editor say what they are building (once per process)."""
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor as Editor
    from django.db.migrations.executor import MigrationExecutor

    if getattr(Editor, "_dbbench_watched", False):
        return
    Editor._dbbench_watched = True  # type: ignore[attr-defined]
    _remember(
        MigrationExecutor,
        "apply_migration",
        lambda state, migration, *a, **k: {"migration": f"{migration.app_label}.{migration.name}"},
    )
    _remember(Editor, "create_model", lambda model: _model(model))
    _remember(Editor, "add_field", lambda model, field: _model(model, field))
    _remember(Editor, "alter_field", lambda model, old, new, *a, **k: _model(model, new))
    _remember(Editor, "add_index", lambda model, index: dict(_model(model), index=index.name))
    _remember(Editor, "add_constraint", lambda model, constraint: dict(_model(model), constraint=constraint.name))


def _field_from_error(building: dict[str, Any], message: str) -> str | None:
    """The field whose column the server's message quotes (``BLOB/TEXT column 'code' used in key ...``)."""
    columns = building.get("columns") or {}
    for name in re.findall(r"[`'\"](\w+)[`'\"]", message):
        if name in columns:
            return columns[name]
    return None


@contextmanager
def setup_guard(alias_count: int = 1) -> Iterator[None]:
    """Around ``setup_databases``: on failure, one ``setup_error`` line with what was being built, then re-raise."""
    global setup_failure
    watch_setup()
    _building.clear()
    with capture_sql() as kept:
        try:
            yield
        except BaseException as exc:
            setup_failure = exc
            error = describe_error(sys.exc_info())  # type: ignore[arg-type]
            during = {k: v for k, v in _building.items() if k != "columns"}
            if not during.get("field"):
                during["field"] = _field_from_error(_building, f"{error['message']} {error['cause']}")
            setup_failed(error, during, list(kept))
            raise
