"""Your mix: each replayed shape's ratio, weighed by its share of the captured time on the baseline.

Pure functions over a replay's data (the timings it kept), so ``dbbench report`` recomputes the same figures from
the file. The mix is the report's own :func:`~dbbench.stats.combine` (a weighted geometric mean whose
bootstrap interval carries every shape's uncertainty), with weights = captured time, so a shape that took 40% of
the app's database time moves the answer 40% of the way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dbbench.stats import DEFAULT_THRESHOLD, Comparison, Label, combine, compare

DRIVERS = 3  # shapes named as driving the mix


@dataclass(frozen=True)
class ShapeRatio:
    id: str
    share: float  # of the captured baseline time
    comparison: Comparison
    control: Comparison | None
    operation: str | None


@dataclass(frozen=True)
class Mix:
    comparison: Comparison | None  # None: nothing was measured
    covered: float  # share of the captured time the measured shapes carry
    shapes: list[ShapeRatio]
    drivers: list[tuple[str, float]]  # (shape id, its pull on log(mix), as a share of the total pull)


# The last replay's ratios: a report asks for them from several sections (verdict, mix, method, the replay's own
# section), and each is a bootstrap per shape (about a second for a shape timed for 2 s, on a busy machine).
_LAST: list[tuple[dict[str, Any], float, list[ShapeRatio]]] = []


def shape_ratios(data: dict[str, Any], threshold: float = DEFAULT_THRESHOLD) -> list[ShapeRatio]:
    for seen, at, ratios in _LAST:
        if seen is data and at == threshold:  # the same loaded document, never changed after loading
            return ratios
    ratios = _shape_ratios(data, threshold)
    _LAST[:] = [(data, threshold, ratios)]
    return ratios


def _shape_ratios(data: dict[str, Any], threshold: float) -> list[ShapeRatio]:
    base, cand, control = data["baseline"], data["candidate"], data.get("control")
    ratios = []
    for shape in data["shapes"]:
        timings = shape.get("timings_ms") or {}
        if shape.get("status") != "replayed" or not timings.get(base) or not timings.get(cand):
            continue
        c = compare(timings[base], timings[cand], threshold=threshold)
        ctl = (
            compare(timings[base], timings[control], threshold=threshold) if control and timings.get(control) else None
        )
        ratios.append(ShapeRatio(shape["id"], shape["share"], c, ctl, shape.get("operation")))
    return ratios


def mix(data: dict[str, Any], threshold: float = DEFAULT_THRESHOLD) -> Mix:
    ratios = shape_ratios(data, threshold)
    usable = [r for r in ratios if r.share > 0 and r.comparison.label is not Label.TOO_FEW]
    if not usable:
        return Mix(None, 0.0, ratios, [])
    combined = combine([r.comparison for r in usable], [r.share for r in usable], threshold=threshold)
    pulls = [(r.id, r.share * math.log(r.comparison.ratio)) for r in usable]
    total = sum(abs(p) for _, p in pulls) or 1.0
    drivers = sorted(((i, p / total) for i, p in pulls), key=lambda x: -abs(x[1]))[:DRIVERS]
    return Mix(combined, sum(r.share for r in usable), ratios, drivers)
