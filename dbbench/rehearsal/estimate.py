"""Downtime estimates of a migration rehearsal for other data sizes, and ``--estimate-for`` sizes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from dbbench.errors import ConfigError
from dbbench.rehearsal.copy import TableCopy
from dbbench.units import format_count, parse_count


class Rehearsal(Protocol):
    """What an estimate needs of a rehearsal (``rehearse.Rehearsal``; a protocol keeps the imports one-way)."""

    copies: Sequence[TableCopy]
    copy_seconds: float
    verify_seconds: float
    verify_table_seconds: dict[str, float]

    @property
    def attempts(self) -> int: ...


ESTIMATE_ATTEMPTS = (1_000_000, 10_000_000, 100_000_000)


def _growing() -> set[str]:
    """Tables that grow with the attempts (``dbbench.seed.datagen``: one student per 20); the others stay put."""
    from dbbench.quiz.models import QuizAttempt, Student

    return {Student._meta.db_table, QuizAttempt._meta.db_table}


def estimate(result: Rehearsal, attempts: int) -> dict[str, Any]:
    """Copy and verification time for ``attempts`` attempts, scaled linearly from this rehearsal's times.

    Linear scaling leaves out that indexes get slower to maintain once they outgrow the server's buffers, so
    figures far above the measured size are lower bounds.
    """
    growing = _growing()
    factor = attempts / result.attempts
    fixed = sum(c.seconds for c in result.copies if c.table not in growing)
    scaled = sum(c.seconds for c in result.copies if c.table in growing)
    rest = max(result.copy_seconds - fixed - scaled, 0.0)  # ids and statistics: they grow with the data
    copy = fixed + (scaled + rest) * factor
    v_fixed = sum(s for t, s in result.verify_table_seconds.items() if t not in growing)
    verify = v_fixed + (result.verify_seconds - v_fixed) * factor
    return {
        "attempts": attempts,
        "label": format_count(attempts) if len(format_count(attempts)) <= 5 else f"~{attempts / 1e6:.1f}m",
        "copy_seconds": round(copy, 1),
        "verify_seconds": round(verify, 1),
        "downtime_seconds": round(copy + verify, 1),
        "downtime": duration(copy + verify),
        "measured_at": result.attempts,
    }


_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b\s*$", re.IGNORECASE)


MAX_ESTIMATE_BYTES = 2**50  # 1 PiB
MAX_ESTIMATE_ATTEMPTS = 10**12


def check_estimate_sizes(texts: list[str]) -> None:
    """Refuse a bad --estimate-for before anything runs (sizes in bytes are turned into attempts afterwards)."""
    for text in texts:
        match = _BYTES.match(text)
        if match and _bytes(match) > MAX_ESTIMATE_BYTES:
            raise ConfigError(f"bad --estimate-for size {text!r}: at most 1 PiB of source data")
        if not match and parse_count(text, what="--estimate-for size") > MAX_ESTIMATE_ATTEMPTS:
            raise ConfigError(f"bad --estimate-for size {text!r}: at most {MAX_ESTIMATE_ATTEMPTS:,} attempts")


def _bytes(match: re.Match[str]) -> float:
    return float(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " ")


def parse_estimate_size(text: str, result: Rehearsal) -> int:
    """``5m`` (attempts) or ``20GB`` (of source data: turned into attempts with the source's bytes per attempt)."""
    match = _BYTES.match(text)
    if not match:
        return parse_count(text, what="--estimate-for size")
    size = sum(c.source_bytes for c in result.copies if c.table in _growing())
    if not (result.attempts and size):
        raise ConfigError(f"cannot turn {text!r} into attempts: nothing was copied to measure bytes per attempt")
    return max(1, min(round(_bytes(match) / (size / result.attempts)), MAX_ESTIMATE_ATTEMPTS))


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
