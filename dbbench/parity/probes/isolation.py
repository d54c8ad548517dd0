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
from typing import Any

from django.db import DatabaseError, connections, transaction

from dbbench.backends.registry import spec_for_engine
from dbbench.backends.spec import BackendSpec
from dbbench.parity.lab.models import Slot
from dbbench.parity.probes import probe

_WAIT_S = 10.0  # an upper bound for a step of the other thread; each step takes milliseconds


def _spec(alias: str) -> BackendSpec:
    """The backend's isolation knowledge (dbbench.backends.spec), found by the connection's Django ENGINE."""
    spec = spec_for_engine(connections[alias].settings_dict["ENGINE"])
    assert spec is not None, f"{alias}: no backend spec serves {connections[alias].settings_dict['ENGINE']}"
    return spec


def _slot(alias: str) -> Any:
    return Slot.objects.using(alias).filter(code="a")


def _read(alias: str) -> int:
    return _slot(alias).values_list("value", flat=True).get()


def _shorten_lock_waits(alias: str) -> None:
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(_spec(alias).lock_timeout_sql)


def _level_in_force(alias: str) -> str:
    """``read committed``, ``repeatable read``...: the session's level, spelled alike for every vendor."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(_spec(alias).isolation_level_sql)
        return str(cursor.fetchone()[-1]).lower().replace("-", " ")  # the value is the last column


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
            # Inside the transaction: psycopg sets the level with each BEGIN, not for the session.
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
    connection.settings_dict["OPTIONS"] = _spec(alias).isolation_options(level, saved)
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
