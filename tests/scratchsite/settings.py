"""The quiz site's settings plus :class:`tests.scratchsite.middleware.SlowDown` (after Server-Timing)."""

from __future__ import annotations

from dbbench.settings.all import *  # noqa: F403
from dbbench.settings.all import MIDDLEWARE

MIDDLEWARE = [MIDDLEWARE[0], "tests.scratchsite.middleware.SlowDown", *MIDDLEWARE[1:]]
