"""A histogram for each SQL shape: every statement the quiz site runs under load, by its text as Django sends it
(placeholders, not values), with count, total time and p50/p95/p99.

Each gunicorn worker keeps cumulative histograms (two significant digits per bucket, like Locust's: relative
error under 5%, an HDR histogram's trade) and writes them to a file of its own in ``DBBENCH_SQL_SHAPES_DIR`` at
most once a second. The load test's sampler reads and merges the files of all workers with its other samples;
a step's histograms are the difference between the first and the last sample in its measured window, so the
shapes cover the same window as the latencies (give or take the one-second flush at each edge).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dbbench.load.stats import bucket, percentile

ENV_SHAPES_DIR = "DBBENCH_SQL_SHAPES_DIR"
FLUSH_S = 1.0
TOP = 10  # shapes kept per step, by total time


class ShapeRecorder:
    """One worker's histograms: ``{shape: {"count", "total_ms", "buckets": {bucket: count}}}``, cumulative."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / f"{os.getpid()}.json"
        self.shapes: dict[str, dict[str, Any]] = {}
        self.flushed = 0.0

    def add(self, sql: str, ms: float) -> None:
        shape = self.shapes.get(sql)
        if shape is None:
            shape = self.shapes[sql] = {"count": 0, "total_ms": 0.0, "buckets": {}}
        shape["count"] += 1
        shape["total_ms"] += ms
        key = bucket(ms)
        shape["buckets"][key] = shape["buckets"].get(key, 0) + 1

    def maybe_flush(self) -> None:
        now = time.monotonic()
        if now - self.flushed < FLUSH_S:
            return
        self.flushed = now
        if os.getpid() != int(self.path.stem):  # forked after creation (gunicorn --preload): a file of its own
            self.path = self.path.with_name(f"{os.getpid()}.json")
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.shapes))
            os.replace(tmp, self.path)  # the sampler never reads half a file
        except OSError:
            pass  # the directory is gone (the run ended): nothing to report to


def read_all(directory: str | Path) -> dict[str, dict[str, Any]]:
    """Every worker's file merged: the site's cumulative histograms now."""
    merged: dict[str, dict[str, Any]] = {}
    for path in Path(directory).glob("*.json"):
        try:
            shapes = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for sql, data in shapes.items():
            into = merged.setdefault(sql, {"count": 0, "total_ms": 0.0, "buckets": {}})
            into["count"] += int(data["count"])
            into["total_ms"] += float(data["total_ms"])
            for key, n in data["buckets"].items():
                into["buckets"][key] = into["buckets"].get(key, 0) + int(n)
    return merged


def difference(
    later: Mapping[str, Mapping[str, Any]], earlier: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """What happened between two cumulative snapshots (a worker that restarted in between counts from 0)."""
    found: dict[str, dict[str, Any]] = {}
    for sql, now in later.items():
        before = earlier.get(sql) or {"count": 0, "total_ms": 0.0, "buckets": {}}
        count = int(now["count"]) - int(before["count"])
        if count <= 0:
            continue
        buckets = {k: n - int(before["buckets"].get(k, 0)) for k, n in now["buckets"].items()}
        found[sql] = {
            "count": count,
            "total_ms": float(now["total_ms"]) - float(before["total_ms"]),
            "buckets": {k: n for k, n in buckets.items() if n > 0},
        }
    return found


def figures(shapes: Mapping[str, Mapping[str, Any]], seconds: float, top: int = TOP) -> list[dict[str, Any]]:
    """The ``top`` shapes by total time: count, per second, total, mean, p50/p95/p99 (ms)."""
    rows = []
    for sql, data in shapes.items():
        histogram = {float(k): int(n) for k, n in data["buckets"].items()}
        rows.append(
            {
                "shape": sql,
                "count": int(data["count"]),
                "per_s": round(data["count"] / seconds, 2) if seconds > 0 else None,
                "total_ms": round(float(data["total_ms"]), 2),
                "mean_ms": round(float(data["total_ms"]) / data["count"], 3),
                "p50_ms": percentile(histogram, 0.50),
                "p95_ms": percentile(histogram, 0.95),
                "p99_ms": percentile(histogram, 0.99),
            }
        )
    return sorted(rows, key=lambda r: -r["total_ms"])[:top]


_QUOTES = re.compile(r'[`"]')


def aligned(shape: str) -> str:
    """A shape as both backends would match it: identifiers' quotes (``"t"."c"`` and ``\\`t\\`.\\`c\\```) left out."""
    return _QUOTES.sub("", shape)


def side_by_side(runs: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], top: int = 8) -> list[dict[str, Any]]:
    """Rows of shapes across configurations (``(label, shapes)`` each), by their largest total time."""
    rows: dict[str, dict[str, Any]] = {}
    for label, shapes in runs:
        for shape in shapes:
            row = rows.setdefault(aligned(shape["shape"]), {"shape": aligned(shape["shape"]), "by": {}})
            row["by"][label] = shape
    ordered = sorted(rows.values(), key=lambda r: -max(s["total_ms"] for s in r["by"].values()))
    return ordered[:top]
