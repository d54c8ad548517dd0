"""Database routers: the parity probes' tables belong in the parity suite's scratch databases only."""

from __future__ import annotations

from typing import Any

# The parity suite's scratch aliases are named ``parity-<target>`` (dbbench.parity.suite.scratch_alias); target names
# cannot hold "-", so no configured target matches.
PARITY_ALIAS_PREFIX = "parity-"


class ParityLabRouter:
    """Migrate ``paritylab`` only on a parity scratch alias, so the benchmarked databases hold just the quiz app."""

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if app_label == "paritylab":
            return db.startswith(PARITY_ALIAS_PREFIX)
        return None  # no opinion: every other app migrates everywhere
