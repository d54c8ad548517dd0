"""Capture in a staging deployment: a middleware that records a sample of requests, within a time and size limit.

Add it first in ``MIDDLEWARE`` and configure it::

    MIDDLEWARE = ["dbbench.capture.middleware.CaptureMiddleware", *MIDDLEWARE]
    DBBENCH_CAPTURE = {
        "dir": "/var/tmp/dbbench-capture",  # exists, writable; each process writes part-<pid>.json there (0600)
        "sample": 0.05,         # share of requests recorded (default 0.01)
        "max_seconds": 3600,    # stop recording after an hour (default 3600; 0: no limit)
        "max_instances": 5000,  # instances kept in all, per process (default 5000): the size limit
        "params": True,         # False: no parameter values (shapes, counts and times only)
    }

Then merge the parts: ``dbbench capture --from-dir /var/tmp/dbbench-capture --output staging.capture.json``.
Requests not drawn cost one random number and one flag check per statement; queries outside requests (management
commands, background threads) are not recorded.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from dbbench.capture import hook

DEFAULTS = {"sample": 0.01, "max_seconds": 3600, "max_instances": 5000, "params": True, "keep": hook.KEEP_FIRST}


def project_identity() -> dict[str, str]:
    """The project as ``dbbench replay --app PATH`` names it: its folder (``BASE_DIR``) and settings module."""
    base = getattr(settings, "BASE_DIR", None)
    name = os.path.basename(os.path.normpath(str(base))) if base else settings.SETTINGS_MODULE.split(".")[0]
    return {"name": name, "settings": settings.SETTINGS_MODULE}


class CaptureMiddleware:
    """Record the database statements of a random ``sample`` of requests (see the module's notes)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        config = {**DEFAULTS, **getattr(settings, "DBBENCH_CAPTURE", {})}
        folder = config.get("dir")
        if not folder or not os.path.isdir(folder):
            raise ImproperlyConfigured(f"DBBENCH_CAPTURE['dir'] must be an existing folder, not {folder!r}")
        self.sample = float(config["sample"])
        if not 0 < self.sample <= 1:
            raise ImproperlyConfigured(f"DBBENCH_CAPTURE['sample'] must be in (0, 1], not {self.sample!r}")
        config.setdefault("project", project_identity())
        self.recorder = hook.install({**config, "requests_only": True})
        self.rng = random.Random()

    def __call__(self, request: Any) -> Any:
        if not self.recorder.active or self.rng.random() >= self.sample:
            return self.get_response(request)
        hook.set_recording(True)
        try:
            return self.get_response(request)
        finally:
            hook.set_recording(None)
