"""Which ``connection.features`` flags are false on the target, read from Django's own MySQL backend.

A branch on ``connection.features.has_select_for_update_of`` runs its "missing" side on MariaDB; whether that side
works decides whether the branch is handled (see :func:`dbbench.audit.auditor.ModuleAuditor._refusals`). Django's
``DatabaseFeatures`` for MySQL answers per server (``mysql_is_mariadb``, ``mysql_version``), so a stand-in
connection with the target's identity is enough: no server is contacted.
"""

from __future__ import annotations

import functools

from dbbench.audit.rules import MYSQL8

# The target servers as Django sees them: MariaDB 10.11 (what dbbench compares against) and MySQL 8.0.
_SERVERS = {"mariadb": (True, (10, 11, 0)), MYSQL8: (False, (8, 0, 36))}


class _StandIn:
    """Just enough of a MySQL connection for DatabaseFeatures' version-dependent properties."""

    def __init__(self, mariadb: bool, version: tuple[int, int, int]) -> None:
        self.mysql_is_mariadb = mariadb
        self.mysql_version = version
        self.mysql_server_data = {"sql_mode": set(), "default_storage_engine": "InnoDB"}
        self.sql_mode: set[str] = set()
        self.settings_dict: dict[str, dict[str, str]] = {"OPTIONS": {}}


@functools.cache
def missing(target: str) -> frozenset[str]:
    """The ``has_*``/``supports_*``/``can_*`` flags Django reports false for ``target``."""
    try:
        from django.db.backends.mysql.features import DatabaseFeatures
    except Exception:  # Django not importable here: no feature is known to be missing
        return frozenset()
    features = DatabaseFeatures(_StandIn(*_SERVERS.get(target, _SERVERS["mariadb"])))
    found = set()
    for name in dir(DatabaseFeatures):
        if name.startswith(("has_", "supports_", "can_")):
            try:
                if getattr(features, name) is False:
                    found.add(name)
            except Exception:  # a property that needs a live server: unknown, so not "missing"
                continue
    return frozenset(found)
