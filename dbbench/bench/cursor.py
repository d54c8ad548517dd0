"""The cursor every timed raw call goes through: one per driver connection, kept.

The benchmark suite's raw twins (:mod:`dbbench.bench.workloads`) and ``dbbench replay``'s statements both send
through it, so a replayed statement and the benchmark operation it is are timed alike. No quiz models here: a
replay in a team's own project imports this module.
"""

from __future__ import annotations

from typing import Any

_cursors: dict[int, tuple[Any, Any]] = {}  # id(connection) -> (connection, its cursor), oldest first
KEPT_MAX = 32  # far more connections than one process times at once


def kept_cursor(connection: Any) -> Any:
    """One DB-API cursor per driver connection, reused by every timed raw call (the suite's raw twins and the
    replay's statements alike, so the two time the same thing).

    Opening a cursor per call costs client CPU, and not alike on every driver (psycopg 3: 0.5-7.7 us per call,
    mysqlclient: -3 to +2 us, on 2 busy cores: ``scripts/replay_consistency.py``): it made PostgreSQL look slower in the
    raw twins than in a replay of the same statement, and it is neither the server's work nor the driver's
    per-statement work.
    """
    kept = _cursors.get(id(connection))
    if kept is None or kept[0] is not connection:  # a new connection (the old one closed): a new cursor
        kept = _cursors[id(connection)] = (connection, connection.cursor())
        while len(_cursors) > KEPT_MAX:  # the oldest go: connections Django has closed and replaced since
            del _cursors[next(iter(_cursors))]
    return kept[1]
