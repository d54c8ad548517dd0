"""dbbench: should a Django team move from PostgreSQL to MySQL/MariaDB? Measure it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    # The one version number is pyproject.toml's; result files, the database marker and `--version` all read it.
    __version__ = version("dbbench")
except PackageNotFoundError:  # a source tree on sys.path without `pip install`
    __version__ = "0+unknown"
