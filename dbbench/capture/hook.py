"""The recorder that runs inside a Django process: every statement's shape, count and time, a sample of instances.

This module imports nothing of dbbench's (only the standard library, and Django when installed), so it can run in
a project's own interpreter: ``dbbench capture`` copies it next to a ``sitecustomize`` module. Two patches:

- ``SQLCompiler.execute_sql`` (and the subclasses that override it) note the query being executed, so the
  statement it sends is known to be an ORM query and its ``Query`` can be pickled ("Pickling QuerySets" in
  Django's documentation: a pickled ``Query`` compiled against another connection gives that backend's SQL);
- ``CursorWrapper._execute_with_wrappers``, through which every ``execute``/``executemany`` passes (the ORM's,
  ``.raw()``'s and a plain ``cursor.execute``), times the statement.

Cost: the per-statement work is two clock reads and a dictionary update. Pickling the query, the parameters and
finding the call site are done only for the instances kept: the first :data:`KEEP_FIRST` of a shape, then a
reservoir sample (each later instance replaces one with probability ``keep / seen``), so a shape seen a million
times pickles about ``keep * ln(seen / keep)`` times in all.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import pickle
import random
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

CONFIG_ENV = "DBBENCH_CAPTURE"  # JSON: {"dir": ..., "keep": ..., "params": ..., "project": {...}, ...}
FORMAT = 1
# Instances kept per shape. A query whose cost depends on its arguments (a leaderboard over quizzes of very
# different sizes) replayed on 20 captured instances came out at 0.62x where the benchmark, drawing its own
# arguments, measured 0.77x (0.65-0.90); on 100 at 0.75x (scripts/replay_consistency.py, docs/commands/replay.md).
KEEP_FIRST = 100
FLUSH_EVERY_S = 5.0
# Statements that are Django's own transaction bookkeeping (atomic blocks, test cases): not the app's queries.
_BOOKKEEPING = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT", "START TRANSACTION", "SET ")

_SETUP_PARTS = tuple(
    os.sep + os.path.join("django", *parts)
    for parts in (
        ("db", "backends", "base", "creation.py"),
        ("db", "migrations", ""),
        ("core", "management", "commands", "migrate.py"),
        ("core", "management", "commands", "flush.py"),
        ("core", "management", "sql.py"),
        ("core", "checks", ""),
    )
)

_local = threading.local()
_recorder: Recorder | None = None
_originals: list[tuple[type, str, Any]] = []  # what install() replaced, for uninstall()
# Sampled requests only (the middleware): Django's methods are patched while at least one drawn request runs, so
# a request that was not drawn, with none drawn beside it, runs Django's own code (1.2 us per statement less).
_drawn_originals: list[tuple[type, str, Any]] = []
_drawn = 0
_drawn_lock = threading.Lock()


def statement_kind(sql: str) -> str:
    """``select``, ``insert``, ``update``, ``delete`` or ``other`` (DDL, transaction control, SET, CALL, ...)."""
    word = sql.lstrip(" (\n\t").split(None, 1)[0].upper() if sql.strip() else ""
    if word in ("SELECT", "WITH", "VALUES", "SHOW", "EXPLAIN"):
        return "select"
    if word in ("INSERT", "REPLACE"):
        return "insert"
    if word in ("UPDATE", "DELETE"):
        return word.lower()
    return "other"


class Recorder:
    """Shapes seen by this process: counts and time for all statements, pickled instances for a sample."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.dir = config["dir"]
        self.keep = int(config.get("keep", KEEP_FIRST))
        self.params = bool(config.get("params", True))
        self.sample = float(config.get("sample", 1.0))  # share of requests recorded (the middleware's)
        deadline = float(config.get("max_seconds") or 0)
        self.deadline = time.monotonic() + deadline if deadline else 0.0
        self.max_instances = int(config.get("max_instances") or 0)  # a size limit: instances kept in all
        self.project = config.get("project") or {}
        # The middleware records sampled requests only: other threads and code outside requests stay unrecorded.
        self.requests_only = bool(config.get("requests_only", False))
        self.default_on = not self.requests_only
        self.roots = tuple(p for p in self._skipped_roots())
        # A test suite's set-up (test databases, migrations, flushes between tests) is not the app's work.
        self.skip_setup = bool(config.get("skip_setup", False))
        self.root = config.get("root") or ""
        self.shapes: dict[tuple[str, str], dict[str, Any]] = {}
        self.kept = 0
        self.active = True
        self.lock = threading.Lock()
        self.rng = random.Random(0)
        self.last_flush = time.monotonic()
        self.started = time.time()

    @staticmethod
    def _skipped_roots() -> list[str]:
        """Folders whose frames are not the app's call site: Django, dbbench, this file, the standard library."""
        roots = [os.path.dirname(os.path.abspath(__file__))]
        try:
            import django

            roots.append(os.path.dirname(os.path.abspath(django.__file__)))
        except ImportError:
            pass
        try:
            import dbbench

            roots.append(os.path.dirname(os.path.abspath(dbbench.__file__)))
        except ImportError:
            pass
        roots.append(sysconfig.get_paths()["stdlib"])
        return [r + os.sep for r in roots]

    def call_site(self) -> str:
        frame: FrameType | None = sys._getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename
            if not name.startswith(self.roots) and not name.startswith("<"):
                if self.root and name.startswith(self.root):
                    name = name[len(self.root) :].lstrip(os.sep)  # relative to the project: the same on any machine
                return f"{name}:{frame.f_lineno} in {frame.f_code.co_name}"
            frame = frame.f_back
        return ""

    def in_setup(self) -> bool:
        frame: FrameType | None = sys._getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename
            if any(part in name for part in _SETUP_PARTS):
                return True
            frame = frame.f_back
        return False

    def record(self, vendor: str, sql: str, params: Any, many: bool, seconds: float, query: Any) -> None:
        if self.deadline and time.monotonic() > self.deadline:
            self.active = False
            return
        if self.skip_setup and self.in_setup():
            return
        key = (vendor, sql)
        shape = self.shapes.get(key)
        if shape is None:
            if sql.lstrip().upper().startswith(_BOOKKEEPING):
                return
            shape = self.shapes[key] = {
                "vendor": vendor,
                "sql": sql,
                "source": "orm" if query is not None else "raw",
                "kind": statement_kind(sql),
                "model": query.model._meta.label if query is not None and query.model is not None else "",
                "many": many,
                "count": 0,
                "seconds": 0.0,
                "instances": [],
            }
        shape["count"] += 1
        shape["seconds"] += seconds
        seen = shape["count"]
        if seen <= self.keep:
            slot = len(shape["instances"])
        else:
            slot = self.rng.randrange(seen)
            if slot >= self.keep:
                return
        if self.max_instances and self.kept >= self.max_instances and slot >= len(shape["instances"]):
            return
        instance = self._instance(sql, params, seconds, query)
        with self.lock:
            if slot >= len(shape["instances"]):
                shape["instances"].append(instance)
                self.kept += 1
            else:
                shape["instances"][slot] = instance
        if time.monotonic() - self.last_flush > FLUSH_EVERY_S:
            self.flush()

    def _instance(self, sql: str, params: Any, seconds: float, query: Any) -> dict[str, Any]:
        instance: dict[str, Any] = {"seconds": round(seconds, 7), "site": self.call_site()}
        if self.params:
            instance["params"] = _pickled(params)
            if query is not None:
                instance["query"] = _pickled(query)
        return instance

    def flush(self) -> None:
        """Write this process's part (replacing its previous one): a crash loses at most the last seconds."""
        self.last_flush = time.monotonic()
        with self.lock:
            part = {
                "format": FORMAT,
                "pid": os.getpid(),
                "started": self.started,
                "ended": time.time(),
                "params": self.params,
                "keep": self.keep,
                "sample": self.sample,
                "project": self.project,
                "django": _django_version(),
                "shapes": [dict(s, instances=list(s["instances"])) for s in self.shapes.values()],
            }
        if not part["shapes"]:
            return
        path = os.path.join(self.dir, f"part-{os.getpid()}.json")
        tmp = f"{path}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the user's data: private from the start
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(part, handle)
            os.replace(tmp, path)
        except OSError as exc:  # the folder went away (capture ended): never break the app for it
            self.active = False
            print(f"dbbench capture: stopped recording: cannot write {path}: {exc.strerror}", file=sys.stderr)


def _pickled(value: Any) -> str | None:
    try:
        return base64.b64encode(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii")
    except Exception:  # an object the app passes that cannot be pickled: that instance is kept without it
        return None


def _django_version() -> str:
    try:
        import django

        return django.get_version()
    except ImportError:
        return ""


def set_recording(on: bool | None) -> None:
    """Record this thread's statements (True), not (False), or as the recorder's default (None)."""
    was = _local.__dict__.get("on") is True
    if on is None:
        _local.__dict__.pop("on", None)
    else:
        _local.on = on
    recorder = _recorder
    if recorder is None or not recorder.requests_only or was == (on is True):
        return
    global _drawn
    with _drawn_lock:
        _drawn += 1 if on is True else -1
        if on is True and _drawn == 1:
            _patch(recorder, _drawn_originals)
        elif _drawn == 0:
            _restore(_drawn_originals)


def install(config: dict[str, Any]) -> Recorder:
    """Patch Django's compiler and cursor wrapper once per process (for ``requests_only``, while a drawn request
    runs); later calls return the same recorder."""
    global _recorder
    if _recorder is not None:
        return _recorder
    recorder = _recorder = Recorder(config)
    if not recorder.requests_only:  # else set_recording() patches while a drawn request runs
        _patch(recorder, _originals)
    atexit.register(recorder.flush)
    return recorder


def _restore(originals: list[tuple[type, str, Any]]) -> None:
    while originals:
        cls, name, method = originals.pop()
        setattr(cls, name, method)


def _patch(recorder: Recorder, originals: list[tuple[type, str, Any]]) -> None:
    """Wrap Django's compiler and cursor wrapper for ``recorder``; what they were goes to ``originals``."""
    from django.db.backends import utils
    from django.db.models.sql import compiler

    for cls in (compiler.SQLCompiler, compiler.SQLInsertCompiler, compiler.SQLUpdateCompiler):
        if "execute_sql" in vars(cls):
            originals.append((cls, "execute_sql", vars(cls)["execute_sql"]))
            cls.execute_sql = _noting(cls.execute_sql, recorder)  # type: ignore[method-assign]
    original = utils.CursorWrapper._execute_with_wrappers  # type: ignore[attr-defined]  # Django's private hook
    originals.append((utils.CursorWrapper, "_execute_with_wrappers", original))

    def execute(self: Any, sql: str, params: Any, many: bool, executor: Callable[..., Any]) -> Any:
        if not recorder.active or not getattr(_local, "on", recorder.default_on):
            return original(self, sql, params, many, executor)
        query = getattr(_local, "query", None)
        _local.query = None  # one compiler call may send several statements; only its own ones are ORM
        started = time.perf_counter()
        try:
            return original(self, sql, params, many, executor)
        finally:
            seconds = time.perf_counter() - started
            _local.query = query
            recorder.record(self.db.vendor, sql, params, many, seconds, query)

    utils.CursorWrapper._execute_with_wrappers = execute  # type: ignore[attr-defined]


def uninstall() -> Recorder | None:
    """Undo :func:`install` in this process (Django's methods as they were, no flush at exit); returns the recorder
    with what it recorded. For a process that records a while and then measures without the recorder."""
    global _recorder, _drawn
    recorder, _recorder = _recorder, None
    with _drawn_lock:
        _drawn = 0
        _restore(_drawn_originals)
    _restore(_originals)
    if recorder is not None:
        recorder.active = False
        atexit.unregister(recorder.flush)
    return recorder


def _noting(method: Callable[..., Any], recorder: Recorder) -> Callable[..., Any]:
    def execute_sql(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not recorder.active or not getattr(_local, "on", recorder.default_on):
            # Not recording this thread (a request the middleware did not draw): no bookkeeping, which every ORM
            # query of an unsampled request would otherwise pay.
            return method(self, *args, **kwargs)
        outer = getattr(_local, "query", None)
        _local.query = self.query
        try:
            return method(self, *args, **kwargs)
        finally:
            _local.query = outer

    execute_sql.__wrapped__ = method  # type: ignore[attr-defined]
    return execute_sql


def install_from_environment() -> Recorder | None:
    """What the ``sitecustomize`` module calls: install when ``DBBENCH_CAPTURE`` is set and Django importable."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        return None
    try:
        import django  # noqa: F401
    except ImportError:  # a Python process of the command that is not the Django one
        return None
    return install(json.loads(raw))
