"""PostgreSQL only (``DBBENCH_POSTGRES_URL``)."""

import os

from dbbench.backends.targets import DEFAULT_URLS, parse_target

from .base import *  # noqa: F403
from .base import databases

DATABASES = databases([parse_target("postgres", os.environ.get("DBBENCH_POSTGRES_URL") or DEFAULT_URLS["postgres"])])
