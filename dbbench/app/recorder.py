"""Child side: what the project's test process writes about each test, one JSON object per line.

Imported inside the project's test process (by :mod:`child_pytest` or :mod:`child_django`), so it imports
nothing of dbbench's and only Django at call time. Each line is flushed as soon as it is written: when a suite
hangs and dbbench stops it, every finished test is already on disk.
"""

from __future__ import annotations

import json
import os
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


def finished(test: str, outcome: str, seconds: float, error: dict[str, Any] | None, sql: list[dict[str, str]]) -> None:
    event: dict[str, Any] = {"event": "result", "test": test, "outcome": outcome, "seconds": round(seconds, 6)}
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
