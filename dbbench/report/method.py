"""The report's last section: how to read it (ratio, interval, labels, order, mix) and the command that rebuilds it."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from dbbench import markdown
from dbbench.report.data import ResultSet
from dbbench.report.verdict import DEFAULT_MIX
from dbbench.stats import DEFAULT_THRESHOLD


def section(
    results: ResultSet,
    weights: Mapping[str, float],
    threshold: float,
    out_dir: Path,
    *,
    user_mix: bool,
    replayed: bool = False,
) -> str:
    mix = ", ".join(f"{markdown.text(op)} {w:g}" for op, w in (weights if user_mix else DEFAULT_MIX).items())
    if replayed:  # the verdict weighed the team's own query shapes, not the quiz site's operations
        mix = "each replayed query shape by its share of the captured database time (see Your queries, replayed)"
    return "\n".join(
        [
            '<a id="method"></a>\n## How to read this report\n',
            "- **Ratio** = candidate median / baseline median over each benchmark's raw timings: 2.00 means the "
            "candidate takes twice as long, 0.50 half as long.",
            "- **95% CI**: block bootstrap of the ratio of medians: each benchmark's rounds, in the order they "
            "ran, cut into 10 blocks; 2,000 resamples of whole blocks (seed 0), percentile interval. Whole blocks, "
            "because a disturbance (another process, a checkpoint) slows a stretch of consecutive rounds.",
            "- **Labels**: *no significant difference* when the interval contains 1 (it could be noise); "
            "*equivalent* when the interval excludes 1 but does not lie wholly beyond "
            f"{threshold:.0%} (a real difference, not shown to matter); *faster* or *slower* (the "
            f"candidate's) only when the whole interval is beyond {threshold:.0%}.",
            _order_caveat(results, replayed),
            f"- **Mix** weights: {mix}.",
            rebuild_line(results, weights, threshold, out_dir, user_mix=user_mix),
            "",
        ]
    )


def _order_caveat(results: ResultSet, replayed: bool = False) -> str:
    # A replay is measured by the benchmark suite's interleaved harness (dbbench.replay.run).
    if (replayed and not results.measurements) or (
        results.measurements and all(m.interleaved for m in results.measurements)
    ):
        return (
            "- **Order**: the backends' rounds were interleaved (one round on each, the order rotating), so a "
            "machine that grew busier or quieter during a benchmark slowed every backend alike: it widens the "
            "intervals instead of favouring one backend. The run's control (the baseline measured twice) shows "
            "what that leaves on the machine."
        )
    return (
        "- **Order**: these results were measured one backend after another. The interval covers disturbances "
        "*within* each run, not a machine that was busier during one backend's run than during the other's: "
        "*unsteady* runs and the busy-machine warning point at that. Re-measure with a current `dbbench bench`, "
        "which interleaves the backends' rounds."
    )


def rebuild_line(
    results: ResultSet, weights: Mapping[str, float], threshold: float, out_dir: Path, *, user_mix: bool
) -> str:
    """The command that rebuilds this report, runnable as printed: the file names alone when every file is in the
    report's folder (run there), else every path absolute; and the options this report was built with."""
    out = out_dir.resolve()
    paths = [Path(p).resolve() for p, _ in results.files]
    inside = all(p.parent == out for p in paths)
    words = ["dbbench", "report", *(p.name if inside else str(p) for p in paths)]
    if not inside:
        words += ["--output-dir", str(out)]
    if user_mix:
        words += ["--mix", ",".join(f"{op}={w:g}" for op, w in weights.items())]
    if abs(threshold - DEFAULT_THRESHOLD) > 1e-9:
        words += ["--threshold", f"{threshold * 100:g}"]
    where = " (in this report's folder)" if inside else ""
    return f"- Rebuild this report{where}: " + markdown.code(shlex.join(words)) + "."
