"""dbbench's own databases: create them, mark them, and refuse to touch anybody else's.

A database is dbbench's when it holds the marker table ``dbbench_owner``. dbbench creates missing databases
(and marks them), marks empty ones, and refuses a database that holds other tables but no marker, unless the
caller passes ``allow_foreign=True`` (the CLI's ``--allow-foreign-database``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from dbbench import __version__
from dbbench.backends.targets import Target
from dbbench.errors import DbbenchError, ForeignDatabaseError

MARKER_TABLE = "dbbench_owner"


@dataclass(frozen=True)
class DatabaseState:
    created: bool  # dbbench created the database just now
    marked: bool  # the marker table is there (now)
    tables: int  # tables other than the marker


def ensure_database(target: Target, *, allow_foreign: bool = False) -> DatabaseState:
    """Create ``target.database`` if missing, and make sure it is marked as dbbench's own."""
    spec = target.spec
    created = False
    with spec.connection(target, None) as conn:
        cur = conn.cursor()
        cur.execute(spec.database_exists_sql(), (target.database,))
        if cur.fetchone() is None:
            cur.execute(spec.create_database_sql(target.database))
            created = True
    with spec.connection(target, target.database) as conn:
        cur = conn.cursor()
        tables = _tables(conn, target)
        others = [t for t in tables if t != MARKER_TABLE]
        if MARKER_TABLE not in tables:
            # "Empty" counts every kind of object, not tables only: a database holding just sequences,
            # functions, types or large objects (procedures, events) is somebody's, not a leftover to adopt.
            objects = [("table", t) for t in others] + ([] if created else _other_objects(conn, target))
            if objects and not allow_foreign:
                kinds = sorted({kind for kind, _ in objects})
                raise ForeignDatabaseError(
                    f"{target.name}: database {target.database!r} on {target.host}:{target.port} holds "
                    f"{len(objects)} objects ({', '.join(kinds)}) that dbbench did not create (e.g. "
                    f"{objects[0][1]}) and no {MARKER_TABLE} marker; refusing to touch it. Point the URL at "
                    "another database name, or pass --allow-foreign-database if it really is yours to benchmark."
                )
            cur.execute(
                f"CREATE TABLE {spec.quote_name(MARKER_TABLE)} "
                "(id integer PRIMARY KEY, created_at varchar(40) NOT NULL, created_by varchar(40) NOT NULL)"
            )
            cur.execute(
                f"INSERT INTO {spec.quote_name(MARKER_TABLE)} VALUES (1, %s, %s)",
                (datetime.now(UTC).isoformat(timespec="seconds"), f"dbbench {__version__}"),
            )
    return DatabaseState(created=created, marked=True, tables=len(others))


def is_owned(target: Target) -> bool:
    """True when the database exists and carries the marker (no side effects)."""
    spec = target.spec
    with spec.connection(target, None) as conn:
        cur = conn.cursor()
        cur.execute(spec.database_exists_sql(), (target.database,))
        if cur.fetchone() is None:
            return False
    with spec.connection(target, target.database) as conn:
        return MARKER_TABLE in _tables(conn, target)


def drop_database(target: Target) -> bool:
    """Drop the database if, and only if, it is dbbench's own. Returns whether anything was dropped."""
    if not is_owned(target):
        return False
    spec = target.spec
    with spec.connection(target, None) as conn:
        conn.cursor().execute(spec.drop_database_sql(target.database))
    return True


HELD_LOCKS_ENV = "DBBENCH_HELD_LOCKS"  # lock names a parent dbbench holds for its child (the benchmark suite)
_held: set[str] = set()  # lock name @ server identity


def lock_name(target: Target) -> str:
    """One name per database on a server, whatever the activity; hashed so long names cannot collide when cut."""
    digest = hashlib.sha256(f"{target.family}/{target.database}".encode()).hexdigest()[:40]
    return f"dbbench:{digest}"


def held_locks_env() -> dict[str, str]:
    """The environment entry that lets a child process use the databases this process has locked."""
    inherited = {n for n in os.environ.get(HELD_LOCKS_ENV, "").split(",") if n}
    return {HELD_LOCKS_ENV: ",".join(sorted(_held | inherited))}


@contextmanager
def exclusive(target: Target, activity: str) -> Iterator[None]:
    """Hold a server-side named lock on ``target``'s database for ``activity``; refuse if another process has it.

    Every command that writes to a database takes it (seed, bench, load, migrate-data, seed-benchmark), so two of
    them never interleave their writes. Re-entrant within a process (``run`` calls the stages in turn), and a child
    started with :func:`held_locks_env` uses its parent's lock. The lock lives in its own session, so it is
    released when the process exits, even after ``kill -9``. It is taken on the server's admin database
    (PostgreSQL advisory locks are per database), so it can be held while the target database is created.
    """
    spec = target.spec
    with spec.connection(target, None) as conn:
        cur = conn.cursor()
        # Keyed by the server's own identity: two URLs of one server (a control pair) share the lock.
        name = f"{lock_name(target)}@{spec.server_identity(cur)}"
        if name in _held or name in os.environ.get(HELD_LOCKS_ENV, "").split(","):
            yield
            return
        cur.execute(spec.try_lock_sql(), (lock_name(target),))
        if not cur.fetchone()[0]:
            raise DbbenchError(
                f"{target.name}: another dbbench process is writing to database {target.database!r} right now; "
                f"refusing to start {activity} alongside it (wait for it to finish, or stop it)"
            )
        _held.add(name)
        try:
            yield
        finally:
            _held.discard(name)


@contextmanager
def exclusive_all(targets: Iterable[Target], activity: str) -> Iterator[None]:
    """:func:`exclusive` on each target's database, all held for the block (taken in order, released together)."""
    with ExitStack() as stack:
        for target in targets:
            stack.enter_context(exclusive(target, activity))
        yield


def _other_objects(conn: object, target: Target) -> list[tuple[str, str]]:
    cur = conn.cursor()  # type: ignore[attr-defined]
    cur.execute(target.spec.other_objects_sql())
    return [(str(kind), str(name)) for kind, name in cur.fetchall()]


def _tables(conn: object, target: Target) -> list[str]:
    cur = conn.cursor()  # type: ignore[attr-defined]
    cur.execute(target.spec.list_tables_sql())
    return [row[0] for row in cur.fetchall()]
