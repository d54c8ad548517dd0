"""Captured instances made runnable on one database alias: the ORM query rebuilt for that connection, raw SQL as
written; reads run as they are, writes inside a transaction that is always rolled back.

The statement is compiled before it is timed (as the benchmark suite's raw twins are), so the timed part is driver
and server only, on Django's own DB-API connection (its session settings: time zone, sql_mode).
"""

from __future__ import annotations

import base64
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections

from dbbench.bench.cursor import kept_cursor

READ, WRITE = "read", "write"
# Statements the replay sends: a read as it is; a write only inside START TRANSACTION ... ROLLBACK. Anything
# else (DDL commits implicitly on MySQL/MariaDB, SET changes the session, transaction control ends our
# transaction) would act outside the rolled-back transaction, so it is never sent.
_LOCKING = re.compile(r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE)\b|\bLOCK\s+IN\s+SHARE\s+MODE\b", re.I)
_SIDE_EFFECTS = re.compile(r"\b(nextval|setval|pg_advisory\w*|get_lock|release_lock|sleep|pg_sleep)\s*\(", re.I)


class NotReplayable(Exception):
    """Why a shape cannot be replayed (one line)."""


@dataclass(frozen=True)
class Statement:
    """One instance compiled for one alias."""

    sql: str
    params: Any
    mode: str  # READ or WRITE
    many: bool = False
    compiler: Any = None  # the ORM compiler (converters for the answers), None for raw SQL
    ordered: bool = False  # the result's order is the query's (ORDER BY), so it is compared


@dataclass(frozen=True)
class Call:
    """What the timed function gets: a cursor of the driver connection and the statement."""

    cursor: Any
    statement: Statement


def call_for(alias: str, statement: Statement) -> Call:
    """A call on ``alias``'s driver connection through the cursor the benchmark's raw twins use too
    (:func:`dbbench.bench.cursor.kept_cursor`): one per connection, so a replayed statement and its benchmark
    operation are timed alike (a cursor opened per call cost a pk read 10-15% over a bare driver loop)."""
    wrapper = connections[alias]
    wrapper.ensure_connection()
    return Call(kept_cursor(wrapper.connection), statement)


def mode_of(sql: str, kind: str) -> str:
    """READ, WRITE, or raise :class:`NotReplayable` for a statement that would act outside the transaction."""
    if _SIDE_EFFECTS.search(sql):
        raise NotReplayable("calls a function with effects a rollback does not undo (sequence, lock, sleep)")
    if kind == "select":
        return WRITE if _LOCKING.search(sql) else READ
    if kind in ("insert", "update", "delete"):
        return WRITE
    word = " ".join(sql.split()[:2])[:40]
    raise NotReplayable(f"not replayed: {word!r} would act outside the replay's rolled-back transaction")


def _unpickle(blob: str | None, what: str) -> Any:
    if blob is None:
        raise NotReplayable(f"captured without its {what} (--no-params, or a value that could not be pickled)")
    try:
        return pickle.loads(base64.b64decode(blob))
    except Exception as exc:
        raise NotReplayable(f"its {what} does not load here: {type(exc).__name__}: {exc}"[:200]) from None


def compile_instance(shape: dict[str, Any], instance: dict[str, Any], alias: str) -> Statement:
    """The instance as ``alias``'s backend runs it; raises :class:`NotReplayable` (or the compiler's error)."""
    if shape["source"] == "raw":
        params = _unpickle(instance.get("params"), "parameters")
        return Statement(shape["sql"], params, mode_of(shape["sql"], shape["kind"]), bool(shape.get("many")))
    query = _unpickle(instance.get("query"), "query")
    compiler = query.get_compiler(using=alias)
    compiled = compiler.as_sql()
    if isinstance(compiled, list):  # an INSERT: one statement per batch; the first batch stands for the call
        compiled = compiled[0]
    sql, params = compiled
    from dbbench.capture.hook import statement_kind

    mode = mode_of(sql, statement_kind(sql))
    ordered = bool(query.order_by or query.extra_order_by or (query.default_ordering and query.get_meta().ordering))
    return Statement(sql, tuple(params), mode, False, compiler if mode == READ else None, ordered)


def run(call: Call, *, check: Callable[[], None] | None = None) -> Any:
    """Send the statement (timed by the harness): a read's rows, or a write's row count, rolled back.

    ``check`` runs after a write, before the rollback (the answers pass: deferred constraints checked now).
    """
    st, cur = call.statement, call.cursor
    if st.mode == READ:
        cur.execute(st.sql, st.params)
        # A read always has a result set; asking cursor.description first (psycopg 3 builds its column objects on
        # every access) made a replayed pk read 15% slower than the bare driver loop.
        return cur.fetchall()
    cur.execute("START TRANSACTION")  # the same words on both servers; the connection is in autocommit
    try:
        if st.many:
            cur.executemany(st.sql, st.params)
        else:
            cur.execute(st.sql, st.params)
        if check is not None:
            check()
        return cur.rowcount
    finally:
        cur.execute("ROLLBACK")


def constraint_check(alias: str) -> Callable[[], None] | None:
    """What makes a rolled-back write meet the checks a commit would: on a backend that defers foreign-key checks
    to the commit (PostgreSQL), the rollback would skip them, and a write the captured data allowed but this data
    does not would pass on the baseline and fail on the candidate (which checks at once): a false difference."""
    connection = connections[alias]
    return connection.check_constraints if connection.features.can_defer_constraint_checks else None


def converted(statement: Statement, rows: Any) -> list[tuple[Any, ...]]:
    """Rows as the ORM would hand them to the app (JSON decoded, booleans, aware datetimes), for the answers."""
    if not isinstance(rows, (list, tuple)):
        return [(rows,)]
    compiler = statement.compiler
    if compiler is None or not getattr(compiler, "select", None):
        return [tuple(r) for r in rows]
    converters = compiler.get_converters([s[0] for s in compiler.select[0 : compiler.col_count]])
    if not converters:
        return [tuple(r) for r in rows]
    return [tuple(r) for r in compiler.apply_converters(rows, converters)]
