"""Report figures (matplotlib, PNG). Each function takes plain data and a path, draws, saves, returns the path.

The Agg backend is forced: reports are built on servers without a display.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullLocator  # noqa: E402

from dbbench.results import SHARED, atomic_write_files  # noqa: E402
from dbbench.stats import crossovers  # noqa: E402
from dbbench.units import format_count  # noqa: E402

DPI = 96  # small PNGs: the HTML report embeds them
_COLOURS = ["#336791", "#c0765a", "#4a9c5d", "#8e6bb5", "#b8a03a", "#5a9cc0"]  # PostgreSQL blue first

Point = tuple[float, float]


def colour(index: int) -> str:
    return _COLOURS[index % len(_COLOURS)]


Mark = tuple[float, float, str]  # x, y, who is faster after it


def latency_vs_rows(
    series: Mapping[str, Mapping[str, Sequence[Point]]],
    path: Path,
    *,
    marks: Mapping[str, Sequence[Mark]] | None = None,
    ylabel: str = "p50 (ms)",
) -> Path:
    """One panel per operation: latency against rows for each backend, log-log, crossovers marked.

    ``series[operation][backend] = [(rows, latency_ms), ...]``; backends keep the same colour in every panel.
    ``marks[operation]`` are the crossovers to draw; by default every place where the first two backends' lines
    cross (a caller that knows which crossings are beyond noise passes only those).
    """
    ops = list(series)
    backends = list(dict.fromkeys(b for per_op in series.values() for b in per_op))
    cols = min(3, max(1, len(ops)))
    rows = max(1, math.ceil(len(ops) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.1 * rows), squeeze=False)
    for ax, op in zip(axes.flat, ops, strict=False):
        per_backend = series[op]
        for i, backend in enumerate(backends):
            points = sorted(per_backend.get(backend, []))
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", color=colour(i), label=backend)
        if marks is not None:
            op_marks = list(marks.get(op, []))
        elif len(backends) >= 2 and all(per_backend.get(b) for b in backends[:2]):
            a, b = backends[:2]
            op_marks = [(x, y, b if lower == "b" else a) for x, y, lower in crossovers(per_backend[a], per_backend[b])]
        else:
            op_marks = []
        xs = [x for pts in per_backend.values() for x, _ in pts]
        middle = math.sqrt(min(xs) * max(xs)) if xs else 1.0  # the middle of a log axis
        for x, y, winner in op_marks:
            ax.axvline(x, color="#888", linestyle=":", linewidth=1)
            ax.plot([x], [y], marker="X", markersize=10, color="black")
            right = x > middle  # keep the label inside the panel
            ax.annotate(
                f"{winner.split(' (')[0]} faster\nfrom ~{format_count(int(round(x, -2)) or int(x))} rows",
                (x, y),
                textcoords="offset points",
                xytext=(-6 if right else 6, 6),
                ha="right" if right else "left",
                fontsize=7,
            )
        ax.set_title(op, fontsize=9)
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_ticks(ax, [x for pts in per_backend.values() for x, _ in pts])
        ax.set_xlabel("rows (attempts)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(ops) :]:
        ax.axis("off")
    _legend(fig, backends)
    return _save(fig, path)


def percentile_bars(data: Mapping[str, Mapping[str, Point]], path: Path, *, title: str) -> Path:
    """Grouped horizontal bars: p50 (solid) and p95 (light) per operation and backend.

    ``data[backend][operation] = (p50_ms, p95_ms)``.
    """
    backends = list(data)
    ops = list(dict.fromkeys(op for per in data.values() for op in per))
    height = 0.8 / max(1, len(backends))
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(ops) * max(1, len(backends)) ** 0.5 + 0.6))
    for i, backend in enumerate(backends):
        ys = [k + i * height for k in range(len(ops))]
        p50 = [data[backend].get(op, (math.nan, math.nan))[0] for op in ops]
        p95 = [data[backend].get(op, (math.nan, math.nan))[1] for op in ops]
        ax.barh(ys, p95, height=height, color=colour(i), alpha=0.35)
        ax.barh(ys, p50, height=height, color=colour(i), label=backend)
    ax.set_yticks([k + height * (len(backends) - 1) / 2 for k in range(len(ops))], ops, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_PLAIN)
    ax.set_xlabel("latency (ms, log scale): solid = p50, light = p95", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def orm_overhead(data: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    """Bars of ORM time / raw SQL time per operation and backend (1.0 = the ORM costs nothing).

    ``data[backend][operation] = orm_p50 / raw_p50``.
    """
    backends = list(data)
    ops = list(dict.fromkeys(op for per in data.values() for op in per))
    width = 0.8 / max(1, len(backends))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.0 + 0.9 * len(ops)), 3.4))
    for i, backend in enumerate(backends):
        xs = [k + i * width for k in range(len(ops))]
        ax.bar(xs, [data[backend].get(op, math.nan) for op in ops], width=width, color=colour(i), label=backend)
    ax.axhline(1.0, color="black", linewidth=0.8)
    top = max((v for per in data.values() for v in per.values() if math.isfinite(v)), default=1.0)
    ax.set_ylim(0, max(1.2, top * 1.3))  # room for the legend above the bars
    ax.set_xticks([k + width * (len(backends) - 1) / 2 for k in range(len(ops))], ops, rotation=30, ha="right")
    ax.tick_params(labelsize=8)
    ax.set_ylabel("ORM p50 / raw SQL p50", fontsize=8)
    ax.set_title("What the Django ORM adds over the same query in raw SQL", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=max(1, len(backends)), loc="upper left")
    return _save(fig, path)


def load_curves(data: Mapping[str, Sequence[tuple[float, float, float]]], path: Path) -> Path:
    """Throughput and p95 latency against concurrent users, one line per backend.

    ``data[backend] = [(users, requests_per_s, p95_ms), ...]``.
    """
    backends = list(data)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for i, backend in enumerate(backends):
        points = sorted(data[backend])
        if not points:
            continue
        users, rps, p95 = zip(*points, strict=True)
        left.plot(users, rps, marker="o", color=colour(i), label=backend)
        right.plot(users, p95, marker="o", color=colour(i), label=backend)
    left.set_title("throughput", fontsize=10)
    left.set_ylabel("requests/s", fontsize=8)
    right.set_title("p95 response time", fontsize=10)
    right.set_ylabel("ms", fontsize=8)
    right.set_yscale("log")
    right.yaxis.set_major_formatter(_PLAIN)
    for ax in (left, right):
        ax.set_xlabel("concurrent users", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.tick_params(labelsize=8)
    left.legend(fontsize=8)
    return _save(fig, path)


def tier_curves(data: Mapping[str, Sequence[tuple[float, float | None, float | None]]], path: Path) -> Path:
    """Each configuration's app server (solid) and database server (dashed) CPU, in % of the CPUs each may use,
    against concurrent users. ``data[label] = [(users, app %, database %), ...]``."""
    fig, ax = plt.subplots(figsize=(9, 3.4))
    for i, (label, points) in enumerate(data.items()):
        for column, style, tier in ((1, "-", "app server"), (2, "--", "database")):
            xy = [(p[0], p[column]) for p in points if p[column] is not None]
            if xy:
                users, cpu = zip(*xy, strict=True)
                ax.plot(users, cpu, style, marker="o", color=colour(i), label=f"{label}: {tier}")
    ax.set_ylabel("% of its CPUs", fontsize=8)
    ax.set_xlabel("concurrent users", fontsize=8)
    ax.set_ylim(0, 105)
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7)
    return _save(fig, path)


def _plain(value: float, _pos: object = None) -> str:
    """Log axes read better as 0.3, 1, 30 than as 3x10^-1."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


_PLAIN = FuncFormatter(_plain)


def _plain_ticks(ax: Axes, sizes: Sequence[float]) -> None:
    # The x axis shows exactly the sizes measured; y labels minor ticks too when it spans few decades.
    ax.set_xticks(sorted(set(sizes)), [format_count(int(s)) for s in sorted(set(sizes))])
    ax.xaxis.set_minor_locator(NullLocator())
    low, high = ax.get_ylim()
    decades = math.log10(high / low) if low > 0 and high > low else 99
    keep = set(range(1, 10)) if decades < 1.2 else {2, 5} if decades < 3 else set()

    def minor(value: float, _pos: object = None) -> str:
        mantissa = round(value / 10 ** math.floor(math.log10(value)))
        return _plain(value) if mantissa in keep else ""

    ax.yaxis.set_major_formatter(_PLAIN)
    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def _legend(fig: Figure, labels: list[str]) -> None:
    handles = [plt.Line2D([], [], color=colour(i), marker="o", label=label) for i, label in enumerate(labels)]
    fig.legend(handles=handles, loc="upper center", ncol=max(1, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.94))


SAVED: dict[Path, bytes] = {}  # every figure drawn since the caller last cleared it: what a report may embed


def _save(fig: Figure, path: Path) -> Path:
    """Draw into memory, then write atomically (a symlink at ``path`` is replaced, never followed)."""
    path = Path(path)
    if not fig.get_layout_engine():
        fig.tight_layout()
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, dpi=DPI, format="png")
    finally:
        plt.close(fig)
    atomic_write_files({path: buffer.getvalue()}, mode=SHARED)
    SAVED[path] = buffer.getvalue()
    return path
