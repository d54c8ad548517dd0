"""Isolation probes: a read-modify-write race between two real connections, at each level Django can configure.

Two transactions read slot 'a', then each writes back what it read plus one (``obj.value += 1; obj.save()``):
the first commits, then the second writes. Either the second fails (the database saw the conflict) or one increment
is silently lost. The first transaction runs on the probe's own connection (its SQL is recorded), the second in a
thread with a connection of its own; events order every step, and a short lock timeout bounds any wait (MariaDB's
SERIALIZABLE turns the reads into shared locks, so the first writer waits for the second reader). Both transactions
really commit, so the slot's value is put back afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, connections, transaction

from dbbench.parity.lab.models import Slot
from dbbench.parity.probes import probe

_WAIT_S = 10.0  # an upper bound for a step of the other thread; each step takes milliseconds


def _pg_options(level: str | None, options: dict[str, Any]) -> dict[str, Any]:
    from django.db.backends.postgresql.psycopg_any import IsolationLevel

    rest = {k: v for k, v in options.items() if k != "isolation_level"}
    # No key: Django leaves the session at the server's default_transaction_isolation.
    return rest if level is None else {**rest, "isolation_level": IsolationLevel[level.upper()]}


def _mysql_options(level: str | None, options: dict[str, Any]) -> dict[str, Any]:
    # A missing key means "read committed" to Django's MySQL backend; None leaves the server default in force.
    return {**options, "isolation_level": None if level is None else level.replace("_", " ")}


# How each Django backend spells an isolation level in OPTIONS, how a session shortens its lock waits, and how it
# reads the level in force. Django has no portable API for these; this table is the module's only vendor knowledge.
_VENDORS: dict[str, tuple[Callable[[str | None, dict[str, Any]], dict[str, Any]], str, str]] = {
    "postgresql": (_pg_options, "SET lock_timeout = '2s'", "SHOW transaction_isolation"),
    "mysql": (_mysql_options, "SET SESSION innodb_lock_wait_timeout = 1", "SELECT @@SESSION.tx_isolation"),
}


def _slot(alias: str) -> Any:
    return Slot.objects.using(alias).filter(code="a")


def _read(alias: str) -> int:
    return _slot(alias).values_list("value", flat=True).get()


def _shorten_lock_waits(alias: str) -> None:
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(_VENDORS[connection.vendor][1])


def _level_in_force(alias: str) -> str:
    """``read committed``, ``repeatable read``...: the session's level, spelled alike for every vendor."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(_VENDORS[connection.vendor][2])
        return str(cursor.fetchone()[0]).lower().replace("-", " ")


def _second(alias: str, read_done: threading.Event, first_done: threading.Event, out: dict[str, str]) -> None:
    """The second transaction, in its own thread (so with its own connection): read, wait, write."""
    try:
        _shorten_lock_waits(alias)
        with transaction.atomic(using=alias):
            value = _read(alias)
            read_done.set()
            if not first_done.wait(_WAIT_S):
                raise TimeoutError("the first transaction never finished")
            _slot(alias).update(value=value + 1)
        out["second"] = "ok"
    except DatabaseError as exc:
        out["second"] = type(exc).__name__
    finally:
        read_done.set()
        connections[alias].close()


def _race(alias: str) -> dict[str, Any]:
    start = _read(alias)
    read_done, first_done = threading.Event(), threading.Event()
    out: dict[str, str] = {}
    other = threading.Thread(target=_second, args=(alias, read_done, first_done, out), daemon=True)
    _shorten_lock_waits(alias)
    level = "unknown"
    try:
        with transaction.atomic(using=alias):
            # Inside the transaction: psycopg2 sets the level with each BEGIN, not for the session.
            level = _level_in_force(alias)
            value = _read(alias)
            other.start()
            if not read_done.wait(_WAIT_S):
                raise TimeoutError("the second transaction never read")
            _slot(alias).update(value=value + 1)
        first = "ok"
    except DatabaseError as exc:
        first = type(exc).__name__
    finally:
        first_done.set()
    other.join(_WAIT_S)
    if other.is_alive():
        raise TimeoutError("the second transaction did not finish")
    return {"level": level, "first": first, "second": out.get("second"), "increments_kept": _read(alias) - start}


def _lost_update(alias: str, level: str | None) -> dict[str, Any]:
    connection = connections[alias]
    start = _read(alias)
    saved = connection.settings_dict["OPTIONS"]
    # The thread's connection is made from the same settings dict, so it gets the same level.
    connection.settings_dict["OPTIONS"] = _VENDORS[connection.vendor][0](level, saved)
    connection.close()
    try:
        return _race(alias)
    finally:
        connection.close()
        connection.settings_dict["OPTIONS"] = saved
        _slot(alias).update(value=start)


_HINT = (
    "do not read-modify-write in Python: update with F('value') + 1, or lock the row first "
    "(select_for_update()) inside atomic(); at REPEATABLE READ and above on PostgreSQL retry the transaction on "
    "OperationalError (serialization failure); MariaDB's REPEATABLE READ does not detect the lost update"
)


def _register(level: str | None) -> None:
    name = f"isolation_{level or 'server_default'}_lost_update"
    spelled = level.replace("_", " ").upper() if level else "the server's default level"

    def run(alias: str) -> Any:
        return _lost_update(alias, level)

    run.__name__ = run.__qualname__ = name
    title = f"two concurrent read-modify-write transactions at {spelled}: is an update lost?"
    probe("isolation", title, hint=_HINT)(run)


for _level in ("read_committed", "repeatable_read", "serializable", None):
    _register(_level)
