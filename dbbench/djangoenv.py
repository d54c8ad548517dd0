"""Configure Django for a list of targets, outside of ``manage.py``: the CLI and library calls use this."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from dbbench.backends.database import ensure_database
from dbbench.backends.targets import ENV_TARGETS, Target, targets_from_env
from dbbench.errors import ConfigError, DbbenchError, mask_secrets

SETTINGS_MODULE = "dbbench.settings.all"


def setup(targets: list[Target] | None = None) -> list[Target]:
    """Point Django at these targets (default: the configured ones) and call ``django.setup()``.

    Django can be set up once per process; a second call must name the same targets.
    """
    import django
    from django.conf import settings

    targets = targets if targets is not None else targets_from_env()
    if settings.configured:
        configured = set(settings.DATABASES) - {"default"}
        missing = [t.name for t in targets if t.name not in configured]
        if missing:
            raise ConfigError(f"Django is already configured without target(s): {', '.join(missing)}")
        return targets
    os.environ[ENV_TARGETS] = ",".join(f"{t.name}={t.url}" for t in targets)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    django.setup()
    return targets


@contextmanager
def temporary_alias(alias: str, target: Target) -> Iterator[str]:
    """``target``'s database under a Django alias that exists only inside the block.

    Django reads DATABASES once; an alias added to the connection handler (with Django's defaults filled in) works
    for the ORM, ``migrate`` and ``loaddata``, and leaves ``settings.DATABASES`` alone.
    """
    from django.db import connections

    entry = connections.configure_settings({"default": {}, alias: target.django_database()})[alias]
    connections.settings[alias] = entry
    try:
        yield alias
    finally:
        with suppress(AttributeError):  # no connection was made in this thread
            connections[alias].close()
            del connections[alias]
        del connections.settings[alias]


def prepare(target: Target, *, allow_foreign: bool = False) -> None:
    """Create and mark the target's database, then apply the quiz app's migrations to it."""
    ensure_database(target, allow_foreign=allow_foreign)
    migrate(target)


def migrate(target: Target) -> None:
    """Apply migrations on ``target`` (Django must be set up); errors become one line."""
    from django.core.management import call_command
    from django.db import DatabaseError

    out = io.StringIO()
    try:
        call_command("migrate", database=target.name, interactive=False, verbosity=0, stdout=out)
    except DatabaseError as exc:
        where = f"database {target.database!r} on {target.host}:{target.port}"  # the alias alone names nothing
        raise DbbenchError(f"{target.name}: migrations failed in {where}: {mask_secrets(str(exc), [target])}") from None
