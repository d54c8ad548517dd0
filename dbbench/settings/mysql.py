"""The MySQL family only (``DBBENCH_MYSQL_URL``): MySQL 8 or MariaDB, whichever answers there."""

import os

from dbbench.backends.targets import DEFAULT_URLS, parse_target

from .base import *  # noqa: F403
from .base import databases

DATABASES = databases([parse_target("mysql", os.environ.get("DBBENCH_MYSQL_URL") or DEFAULT_URLS["mysql"])])
