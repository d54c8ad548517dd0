"""Settings shared by every backend module. Databases come from ``dbbench.backends.targets`` (environment variables)."""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DBBENCH_SECRET_KEY", "dbbench-local-benchmark-key-not-for-production")
# DEBUG would make Django keep every query in memory: fatal for a benchmark.
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
INSTALLED_APPS = [
    "django_mysql",
    "dbbench.quiz",
    "dbbench.parity.lab",
]
DATABASE_ROUTERS = ["dbbench.parity.routers.ParityLabRouter"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "dbbench.quiz.urls"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# How long a connection lives: 0 reconnects on every request (PostgreSQL pays ~3 ms for that).
CONN_MAX_AGE = int(os.environ.get("DBBENCH_CONN_MAX_AGE", "0"))
LOGGING_CONFIG = None
# django_mysql.W003 (character_set_connection) runs only with `check --database`; we pass utf8mb4 anyway.
SILENCED_SYSTEM_CHECKS: list[str] = []


def databases(targets: list) -> dict[str, dict[str, object]]:  # type: ignore[type-arg]
    """``DATABASES`` for these targets: each under its own alias, the first also as ``default``."""
    result: dict[str, dict[str, object]] = {}
    for target in targets:
        entry = target.django_database()
        entry["CONN_MAX_AGE"] = CONN_MAX_AGE
        entry["CONN_HEALTH_CHECKS"] = CONN_MAX_AGE > 0
        result[target.name] = entry
    result["default"] = dict(result[targets[0].name])
    return result
