"""Human-friendly numbers: counts (``100k``, ``1m``, ``2.5m``, ``10_000``), sizes in MiB, ratio intervals."""

from __future__ import annotations

import math
import re

from dbbench.errors import ConfigError

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)\s*$", re.IGNORECASE)


def parse_count(text: str | int, *, what: str = "count") -> int:
    """Parse a positive row count; raise a one-line :class:`ConfigError` otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _RE.match(str(text).replace("_", ""))
        if not match:
            raise ConfigError(f"bad {what} {text!r}: expected a positive number such as 10000, 100k, 1m or 2.5m")
        number, suffix = match.groups()
        scaled = float(number) * _SUFFIX[suffix.lower()]
        if scaled != int(scaled):
            raise ConfigError(f"bad {what} {text!r}: not a whole number of rows")
        value = int(scaled)
    if value <= 0:
        raise ConfigError(f"bad {what} {text!r}: must be at least 1")
    return value


def parse_counts(text: str, *, what: str = "sizes") -> list[int]:
    """Parse ``10k,100k,1m`` into sorted, distinct counts."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise ConfigError(f"bad {what} {text!r}: give at least one size, e.g. 10k,100k")
    return sorted({parse_count(p, what=what.rstrip("s")) for p in parts})


def format_count(n: int) -> str:
    """``100000`` -> ``100k``; ``2500000`` -> ``2.5m``."""
    for suffix, factor in (("m", 1_000_000), ("k", 1_000)):
        if n >= factor and (n * 10) % factor == 0:
            value = n / factor
            return f"{value:g}{suffix}"
    return str(n)


def format_mib(n: int) -> str:
    """Bytes as whole MiB with thousands separators: ``1,024 MiB``."""
    return f"{n / 2**20:,.0f} MiB"


def format_interval(low: float, high: float, confidence: float | None = None, *, missing: str = "-") -> str:
    """A ratio's interval, ``1.02-1.10``; with ``confidence``, ``95% CI 1.02-1.10``. ``missing`` when an end is not
    finite (too few samples to bootstrap)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return missing
    text = f"{low:.2f}-{high:.2f}"
    return text if confidence is None else f"{confidence:.0%} CI {text}"
