"""The few numbers behind the verdict, for the report's first screen: the mix, and the operations that move it.

A reader who has read the decision and its reasons should see, without scrolling, what they rest on: the mix
ratio with its interval, and the two or three operations whose difference weighs most in the mix (share of the
mix times the size of the difference, in log terms, so a 2x slowdown and a 2x speed-up weigh alike). Each
operation's p50 on both servers is shown beside its ratio, because "14x" means something else at 0.5 ms than at
500 ms.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from dbbench.report.data import Row
from dbbench.report.verdict import OpEvidence
from dbbench.stats import Comparison, Label
from dbbench.units import format_interval

SHOWN = 3  # operations on the first screen; the mix table below has all of them
_DECISIVE = (Label.FASTER, Label.SLOWER)


def weightiest(operations: list[OpEvidence], weights: Mapping[str, float], count: int = SHOWN) -> list[OpEvidence]:
    """The operations whose difference moves the mix most: share x |log ratio|, decisive labels only."""
    total = sum(weights.values()) or 1.0

    def pull(o: OpEvidence) -> float:
        return weights.get(o.operation, 0) / total * abs(math.log(o.comparison.ratio))

    decisive = [o for o in operations if o.comparison.label in _DECISIVE and o.comparison.ratio > 0]
    return sorted((o for o in decisive if pull(o) > 0), key=pull, reverse=True)[:count]


def lines(
    operations: list[OpEvidence],
    rows: list[Row],
    weights: Mapping[str, float],
    mix: Comparison | None,
    aliases: tuple[str, str],
    names: tuple[str, str],
) -> list[str]:
    """The first screen's table for one candidate (``aliases``/``names``: baseline's and candidate's), or nothing
    when there is neither a mix nor a decisive operation."""
    base, cand = aliases
    shown: list[tuple[OpEvidence, float | None, float | None]] = []
    for o in weightiest(operations, weights):
        row = next((r for r in rows if r.operation == o.operation and r.comparisons.get(cand) is o.comparison), None)
        b = row.summaries.get(base) if row else None
        c = row.summaries.get(cand) if row else None
        shown.append((o, b.p50 if b else None, c.p50 if c else None))
    if mix is None and not shown:
        return []
    weighted = sum(1 for o in operations if weights.get(o.operation, 0) > 0)
    return [*table(names[0], names[1], mix, shown, weighted), ""]


def table(
    baseline: str,
    candidate: str,
    mix: Comparison | None,
    shown: list[tuple[OpEvidence, float | None, float | None]],
    operations: int,
) -> list[str]:
    """Markdown lines: the mix row, then one row per operation (its p50 on each side in ms, may be None)."""
    lines = [
        f"| the numbers behind it | {baseline} p50 | {candidate} p50 | {candidate} / {baseline} (95% CI) |",
        "|---|---:|---:|---|",
    ]
    if mix is not None:
        lines.append(f"| operation mix ({operations} operations, weighted) | | | **{_ratio(mix)}** |")
    for o, base_ms, cand_ms in shown:
        lines.append(
            f"| [`{o.operation}`](#{o.anchor}) at {o.rows:,} rows | {_ms(base_ms)} | {_ms(cand_ms)} | "
            f"{_ratio(o.comparison)} |"
        )
    return lines


def _ratio(c: Comparison) -> str:
    interval = format_interval(c.low, c.high, missing="")
    return f"{c.ratio:.2f}x{f' ({interval})' if interval else ''}, {c.label}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:,.2f} s"
    return f"{value:.3g} ms"
