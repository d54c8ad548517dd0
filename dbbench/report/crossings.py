"""Where one backend overtakes another as the data grows, beyond noise (the latency plot's marks)."""

from __future__ import annotations

from dbbench.report.data import Row
from dbbench.stats import Label, crossovers

Series = dict[str, dict[str, list[tuple[float, float]]]]  # operation -> alias -> (rows, p50)


def crossings_beyond_noise(
    series: Series, rows: list[Row], base: str | None, cands: list[str]
) -> tuple[dict[str, list[tuple[float, float, str]]], int]:
    """Crossings of the baseline's and a candidate's p50 lines that are beyond noise, and how many are not.

    A crossing counts when the candidate is significantly faster at one size and significantly slower at the
    next (or the reverse): lines that touch inside their intervals say nothing about who overtakes whom.
    """
    found: dict[str, list[tuple[float, float, str]]] = {}
    noise = 0
    if not base:
        return found, noise
    decisive = (Label.FASTER, Label.SLOWER)
    for op, per in series.items():
        variant = "orm" if any(r.operation == op and r.variant == "orm" for r in rows) else "raw"
        by_size = {r.size: r for r in rows if r.operation == op and r.variant == variant}
        for cand in cands:
            if not (per.get(base) and per.get(cand)):
                continue
            sizes = sorted(x for x, _ in per[cand] if x in by_size)
            for x, y, lower in crossovers(per[base], per[cand]):
                before = max((s for s in sizes if s < x), default=None)
                after = min((s for s in sizes if s > x), default=None)
                labels = [by_size[int(s)].comparisons.get(cand) for s in (before, after) if s is not None]
                if len(labels) == 2 and all(c and c.label in decisive for c in labels):
                    found.setdefault(op, []).append((x, y, cand if lower == "b" else base))
                else:
                    noise += 1
    return found, noise
