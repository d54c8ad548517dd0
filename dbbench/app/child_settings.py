"""Child side: point every database alias of the project at the target, whichever way the settings are made.

Used by dbbench's settings shim (a module that imports the project's settings) and, for projects that build
their settings in code (``settings.configure(...)`` in a ``runtests.py`` or a conftest), by a patch of
``LazySettings.configure`` that rewrites ``DATABASES`` (and ``TEST_RUNNER`` for Django's runner) as they are
given. Imports only the standard library (and Django when the patch runs), so it works in the project's own
interpreter.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

# Settings keys of a project's DATABASES entry that describe how it is used, not where it is: they are kept.
KEPT_KEYS = ("ATOMIC_REQUESTS", "AUTOCOMMIT", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "TIME_ZONE")
RUNNER = f"{__package__}.child_django.Runner"


def test_database_name(prefix: str, alias: str) -> str:
    """The test database of one alias in one run (the parent drops leftovers by it): its readable start, and a
    digest of the whole alias so that two aliases that share their first 16 characters (or differ only in
    punctuation) never share a database."""
    readable = re.sub(r"[^a-z0-9_]", "_", alias.lower())[:16]
    return f"{prefix}_{readable}_{hashlib.sha256(alias.encode()).hexdigest()[:6]}"


def point(alias: str, entry: dict[str, Any]) -> dict[str, Any]:
    """One alias on the target's server, with a test database name of dbbench's; how it is used is kept."""
    target = json.loads(os.environ["DBBENCH_APP_TARGET"])
    name = test_database_name(os.environ["DBBENCH_APP_PREFIX"], alias)
    test = dict(target.get("TEST") or {}, NAME=name)
    for key in ("MIRROR", "DEPENDENCIES"):
        if key in (entry.get("TEST") or {}):
            test[key] = entry["TEST"][key]
    kept = {k: entry[k] for k in KEPT_KEYS if k in entry}
    return dict(target, **kept, NAME=name, TEST=test)


def point_all(databases: dict[str, Any] | None) -> dict[str, Any]:
    return {alias: point(alias, entry) for alias, entry in (databases or {"default": {}}).items()}


def patch_configure() -> None:
    """Make ``settings.configure(...)`` point the databases too (projects whose settings are built in code)."""
    from django.conf import LazySettings, global_settings

    original = LazySettings.configure
    if getattr(original, "_dbbench", False):
        return

    def configure(self: Any, default_settings: Any = global_settings, **options: Any) -> None:
        options["DATABASES"] = point_all(options.get("DATABASES"))
        if os.environ.get("DBBENCH_APP_DJANGO_RUNNER"):
            options["TEST_RUNNER"] = RUNNER
        original(self, default_settings, **options)

    configure._dbbench = True  # type: ignore[attr-defined]
    LazySettings.configure = configure  # type: ignore[method-assign]
