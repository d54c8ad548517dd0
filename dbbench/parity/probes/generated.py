"""Helpers for the generated probes (functions, lookups, aggregates): one registration per table row.

A generated probe evaluates one expression over every :class:`Sample` row (in id order: null, zero, half, neg, max,
ascii) and returns the values, normalised so that only differences a Python caller would notice remain: floats to
12 significant digits (last-digit libm noise is not a difference), decimals by value (Decimal('2.50') == 2.5000).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from dbbench.parity.probes import probe


def normalise(value: Any) -> Any:
    """A JSON-able value that compares as Python code comparing the values would."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, (dt.date, dt.time, dt.timedelta)):
        return value.isoformat() if not isinstance(value, dt.timedelta) else str(value)
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    return value


def register(name: str, category: str, title: str, hint: str, func: Callable[[str], Any]) -> None:
    """Register ``func`` as a probe called ``name`` (generated probes have no function of that name)."""
    func.__name__ = func.__qualname__ = name
    probe(category, title, hint=hint)(func)


def slug(text: str) -> str:
    """A probe-name fragment: lower case, non-alphanumerics as underscores."""
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")
