"""Settings shared by every backend module. Databases come from ``dbbench.backends.targets`` (environment variables)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, cast

from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

if TYPE_CHECKING:  # the settings module's own names are Django's; the type is only for the checker
    from dbbench.backends.targets import Target

# No fixed default: a key in the source is a key everyone knows. The site signs nothing today, so a fresh key per
# process costs nothing; gunicorn --preload makes it one key for all of a site's workers.
SECRET_KEY = os.environ.get("DBBENCH_SECRET_KEY") or get_random_secret_key()
# DEBUG would make Django keep every query in memory: fatal for a benchmark.
DEBUG = False
# Checked by CommonMiddleware (request.get_host()): a foreign Host header gets 400. `dbbench load` with remote
# workers adds the address it listens on through DBBENCH_ALLOWED_HOSTS.
ALLOWED_HOSTS = [
    "127.0.0.1",
    "localhost",
    "[::1]",
    *filter(None, (h.strip() for h in os.environ.get("DBBENCH_ALLOWED_HOSTS", "").split(","))),
]
INSTALLED_APPS = [
    "django_mysql",
    "dbbench.quiz",
    "dbbench.parity.lab",
]
DATABASE_ROUTERS = ["dbbench.parity.routers.ParityLabRouter"]
# Server-Timing first, so its "app" time covers the other middleware too (off with DBBENCH_SERVER_TIMING=0).
MIDDLEWARE: list[str] = ["dbbench.load.timing.ServerTimingMiddleware", "django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "dbbench.quiz.urls"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# How long a connection lives: 0 reconnects on every request (PostgreSQL pays ~3 ms for that).
CONN_MAX_AGE = int(os.environ.get("DBBENCH_CONN_MAX_AGE", "0"))


def _pool_from_env() -> dict[str, object] | None:
    text = os.environ.get("DBBENCH_DB_POOL", "").strip()
    if not text:
        return None
    try:
        pool = json.loads(text)
    except ValueError:
        pool = None
    if not isinstance(pool, dict):
        raise ImproperlyConfigured('DBBENCH_DB_POOL: a JSON object of pool options, e.g. {"max_size": 4}')
    return pool


# Django's own connection pool (psycopg 3), OPTIONS "pool": psycopg_pool.ConnectionPool arguments. Each process
# (each gunicorn worker) holds its own pool; Django refuses it together with CONN_MAX_AGE > 0.
DB_POOL = _pool_from_env()
# Transaction pooling (PgBouncer) gives each transaction whichever server connection is free, so a server-side
# cursor, which outlives its transaction, would be lost: Django's docs ask for this setting then.
DISABLE_SERVER_SIDE_CURSORS = os.environ.get("DBBENCH_DISABLE_SERVER_SIDE_CURSORS", "") == "1"
# Errors (a 500's traceback, a refused Host header) to stderr, which gunicorn's error log captures; nothing else,
# so benchmarks and commands stay quiet. Django's own default sends them nowhere when DEBUG is off.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "level": "ERROR"}},
    "loggers": {"django": {"handlers": ["stderr"], "level": "ERROR", "propagate": False}},
}
# django_mysql.W003 (character_set_connection) runs only with `check --database`; we pass utf8mb4 anyway.
SILENCED_SYSTEM_CHECKS: list[str] = []


def databases(targets: list[Target]) -> dict[str, dict[str, object]]:
    """``DATABASES`` for these targets: each under its own alias, the first also as ``default``."""
    result: dict[str, dict[str, object]] = {}
    for target in targets:
        entry = target.django_database()
        entry["CONN_MAX_AGE"] = CONN_MAX_AGE
        entry["CONN_HEALTH_CHECKS"] = CONN_MAX_AGE > 0
        entry["DISABLE_SERVER_SIDE_CURSORS"] = DISABLE_SERVER_SIDE_CURSORS
        if DB_POOL is not None and target.spec.django_pool:  # a family without Django's pool keeps its own
            entry["OPTIONS"] = {**cast(dict[str, object], entry["OPTIONS"]), "pool": DB_POOL}
        result[target.name] = entry
    result["default"] = dict(result[targets[0].name])
    return result
