"""One server's side of a verification (:mod:`dbbench.rehearsal.compare`, :mod:`dbbench.rehearsal.jsonpass`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbbench.backends.targets import Target
from dbbench.errors import DbbenchError, mask_secrets


@dataclass
class Side:
    """One server's side of a comparison: a raw connection in a read-only snapshot."""

    target: Target
    conn: Any

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            cursor = self.conn.cursor()
            cursor.execute(sql)
            rows = list(cursor.fetchall())
            cursor.close()
            return rows
        except self.target.spec.driver_errors as exc:
            text = mask_secrets(" ".join(str(exc).split()) or type(exc).__name__, [self.target])
            raise DbbenchError(f"{self.target.name}: reading for the verification failed: {text}") from None
