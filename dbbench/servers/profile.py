"""The one server profile dbbench applies to both managed servers, so that neither starts with an advantage.

Each value is given on the server's command line at every start (no configuration file to drift), and each is
read back by ``dbbench doctor`` from the running server. ``--server-memory SIZE`` and ``--server-cpus N`` make
each server a box of that size (:mod:`dbbench.servers.limits`); the buffers then take a share of SIZE.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import psutil

from dbbench.backends.registry import BACKENDS
from dbbench.errors import ConfigError
from dbbench.servers.limits import check_cpus
from dbbench.servers.state import ProfileState

GIB = 2**30
# Enough buffer for the default profile's largest size, so reads there measure the engines and not a cache too
# small for the data: 1M attempts are 1,376 MiB of attempt table and indexes on PostgreSQL and 1,095 MiB on
# MariaDB (`dbbench bench --profile full --sizes 1m`, dbbench 0.1.0); 2 GiB leaves room for the other quiz tables
# and the rows the benchmarks add. The 1 GiB dbbench gave before held less than the data it measured.
FIT_ATTEMPTS = 1_000_000  # the default profile's largest size (tests/test_docs_facts.py holds the two together)
FIT_BUFFERS = 2 * GIB
# Never more than this share of the machine's memory per server (two servers: a quarter of it together), so a small
# machine still runs both with room for connections, the app server and Locust; the report then says the largest
# size outgrew the buffers.
RAM_SHARE = 8
ENV_MEMORY = "DBBENCH_SERVER_MEMORY"
ENV_CPUS = "DBBENCH_SERVER_CPUS"
MIN_MEMORY = 128 * 2**20
# The buffers' share of a server's memory: PostgreSQL's documented starting point for its buffers (25% of
# RAM), and the same for InnoDB so neither gets more cache. The rest holds connections (PostgreSQL forks a
# process per connection), sorts, and the page cache PostgreSQL relies on.
BUFFER_SHARE = 4
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def default_buffers(total_memory: int | None = None) -> int:
    """Each server's buffers with no ``--server-memory``: :data:`FIT_BUFFERS`, capped at 1/:data:`RAM_SHARE` of
    the machine's memory (in whole MiB, at least :data:`MIN_MEMORY`)."""
    total = psutil.virtual_memory().total if total_memory is None else total_memory
    return max(MIN_MEMORY, min(FIT_BUFFERS, total // RAM_SHARE) // 2**20 * 2**20)


def buffer_rule() -> str:
    """The default buffer size as a rule, for the docs (scripts/docs_facts.py)."""
    return (
        f"{FIT_BUFFERS // 2**20:,} MiB (the default profile's {FIT_ATTEMPTS:,} attempts fit), at most 1/{RAM_SHARE} "
        "of the machine's memory"
    )


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


def parse_cpus(text: str) -> int:
    """``--server-cpus``: a whole number of CPUs, at least 1 and at most what this machine lets dbbench use."""
    try:
        cpus = int(text.strip())
    except ValueError:
        raise ConfigError(f"bad server CPU count {text!r}: expected a whole number such as 1 or 2") from None
    if cpus < 1:
        raise ConfigError(f"bad server CPU count {text!r}: at least 1")
    check_cpus(cpus)
    return cpus


@dataclass(frozen=True)
class Profile:
    """What both servers get. ``memory_bytes`` is each server's buffers alike (``BackendSpec.buffer_setting``).

    ``memory_limit_bytes`` and ``cpus`` are each server's limits (None: not limited). The settings themselves, by
    name, are each family's :meth:`~dbbench.backends.spec.BackendSpec.managed_settings`.
    """

    memory_bytes: int = field(default_factory=default_buffers)
    memory_limit_bytes: int | None = None
    cpus: int | None = None
    max_connections: int = 300  # the load test's largest sweep plus Django's test databases, with room

    @classmethod
    def from_text(cls, memory: str | None, cpus: str | None = None) -> Profile:
        """The profile for ``--server-memory`` and ``--server-cpus`` (else their environment variables).

        Without a memory size the servers are not memory-limited and get :func:`default_buffers` each.
        """
        memory = memory or os.environ.get(ENV_MEMORY)
        cpus = cpus or os.environ.get(ENV_CPUS)
        count = parse_cpus(cpus) if cpus and cpus.strip() else None
        if not memory or not memory.strip():
            return cls(cpus=count)
        limit = parse_memory(memory)
        return cls(memory_bytes=limit // BUFFER_SHARE // 2**20 * 2**20, memory_limit_bytes=limit, cpus=count)

    def as_state(self) -> ProfileState:
        """What a restart must change when it differs (recorded with each running server)."""
        return {"buffers": self.memory_bytes, "memory_limit": self.memory_limit_bytes, "cpus": self.cpus}

    def settings(self, family: str) -> dict[str, str]:
        """The command-line settings of a managed server of ``family``."""
        return BACKENDS[family].managed_settings(self.memory_bytes, self.max_connections)

    def limits(self) -> str:
        """The limits asked for each server (what the machine allowed: :func:`dbbench.servers.limits.read_back`)."""
        asked = [f"{self.cpus} CPU" if self.cpus else ""]
        asked.append(f"{self.memory_limit_bytes // 2**20} MiB memory" if self.memory_limit_bytes else "")
        return ", ".join(a for a in asked if a) or "none"

    def describe(self) -> str:
        """One line for ``dbbench doctor``, ``servers status`` and result files."""
        families = "; ".join(spec.managed_description for spec in BACKENDS.values() if spec.managed_description)
        return (
            f"buffers {self.memory_bytes // 2**20} MiB, max_connections {self.max_connections}; {families}; "
            f"limits asked per server: {self.limits()}"
        )
