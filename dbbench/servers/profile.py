"""The one server profile dbbench applies to both managed servers, so that neither starts with an advantage.

Each value is given on the server's command line at every start (no configuration file to drift), and each is
read back by ``dbbench doctor`` from the running server.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from dbbench.errors import ConfigError

GIB = 2**30
DEFAULT_MEMORY = GIB
ENV_MEMORY = "DBBENCH_SERVER_MEMORY"
MIN_MEMORY = 128 * 2**20
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_memory(text: str) -> int:
    """``1G``, ``1GiB``, ``512M``, ``1.5g`` -> bytes (binary units, as both servers count them)."""
    match = _MEMORY_RE.match(text)
    if not match:
        raise ConfigError(f"bad server memory {text!r}: expected a size such as 512M or 1G")
    value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value < MIN_MEMORY:
        raise ConfigError(f"bad server memory {text!r}: at least {MIN_MEMORY // 2**20}M")
    # Both servers take their buffer sizes in whole MiB (InnoDB rounds to its chunk size anyway).
    return value // 2**20 * 2**20


@dataclass(frozen=True)
class Profile:
    """What both servers get. ``memory_bytes`` is shared_buffers and innodb_buffer_pool_size alike."""

    memory_bytes: int = DEFAULT_MEMORY
    max_connections: int = 300  # the load test's largest sweep plus Django's test databases, with room
    # C.UTF-8 is the one UTF-8 locale every Debian has: byte-order collation, no dependence on installed locales.
    postgres_locale: str = "C.UTF-8"
    mariadb_charset: str = "utf8mb4"  # four-byte UTF-8: emoji fit, as in PostgreSQL's UTF8
    mariadb_collation: str = "utf8mb4_general_ci"  # MariaDB 10.11's default for utf8mb4, stated rather than implied

    @classmethod
    def from_text(cls, memory: str | None) -> Profile:
        """The profile for ``--server-memory`` (else ``DBBENCH_SERVER_MEMORY``, else 1 GiB)."""
        text = memory or os.environ.get(ENV_MEMORY)
        return cls(memory_bytes=parse_memory(text)) if text else cls()

    def postgres_settings(self) -> dict[str, str]:
        return {
            "shared_buffers": f"{self.memory_bytes // 1024}kB",
            "fsync": "on",
            "synchronous_commit": "on",  # a commit returns once its WAL is on disk
            "full_page_writes": "on",  # torn-page protection, as InnoDB's doublewrite buffer
            "max_connections": str(self.max_connections),
        }

    def mariadb_settings(self) -> dict[str, str]:
        return {
            "innodb_buffer_pool_size": str(self.memory_bytes),
            "innodb_flush_log_at_trx_commit": "1",  # a commit returns once its redo log is on disk
            "innodb_doublewrite": "1",
            # No binary log, as PostgreSQL has no second log to sync: one durable log per commit on both.
            "skip_log_bin": "",
            "max_connections": str(self.max_connections),
            "character_set_server": self.mariadb_charset,
            "collation_server": self.mariadb_collation,
            "local_infile": "1",  # the seeder's LOAD DATA LOCAL INFILE, as PostgreSQL's COPY
        }

    def describe(self) -> str:
        """One line for ``dbbench doctor``, ``servers status`` and result files."""
        return (
            f"buffers {self.memory_bytes // 2**20} MiB, durable commits (fsync, synchronous_commit=on; "
            f"innodb_flush_log_at_trx_commit=1), binary log off, max_connections {self.max_connections}, "
            f"PostgreSQL UTF8 {self.postgres_locale}, MariaDB {self.mariadb_charset} {self.mariadb_collation}, "
            "MariaDB time zone tables loaded"
        )
