"""Pure statistics over raw timings: percentiles, a bootstrap interval for the ratio of medians, and a label.

Shared by the benchmark (``dbbench.bench.measure``: its stopping rule asks how wide the interval still is) and the
report (``dbbench.report``): one definition of "a difference", wherever it is judged.

The label is what a reader acts on, so it is conservative on purpose:

* ``no significant difference``: the confidence interval of the ratio contains 1 (could be noise);
* ``equivalent``: the interval excludes 1 but does not lie wholly outside the practical band ``[1/(1+t), 1+t]``
  (t = 5% by default): a real difference, not shown to be large enough to be a reason to migrate;
* ``faster`` / ``slower``: the whole interval lies outside the band. Said of the
  *candidate* compared with the *baseline* (``ratio = candidate / baseline``; above 1 the candidate takes longer).

Medians, not means: database timings have long right tails (a checkpoint, a page fault, another process),
and one outlier must not decide a label. The tails are reported separately as p95/p99.

The interval is a *block* bootstrap: each benchmark's rounds (in the order they ran) are cut into
:data:`BLOCKS` contiguous blocks, and resamples draw whole blocks. Rounds are not independent: another process
or a checkpoint slows a stretch of consecutive rounds, and an ordinary bootstrap would treat that stretch as
hundreds of independent observations and give an interval far too narrow (a control run of one server under two
names then shows "differences" of 2x). Resampling blocks keeps such stretches together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

DEFAULT_THRESHOLD = 0.05  # differences under 5% are "equivalent": below what a user of a web page can notice
DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 2000
MIN_SAMPLES = 5  # fewer timings than this give no label: a bootstrap of 2 values is not an interval
BLOCKS = 10  # contiguous blocks per benchmark for the block bootstrap (fewer rounds: one round per block)
_CHUNK_ELEMENTS = 2_000_000  # bound the memory of one bootstrap step (~16 MB of float64)

# Timings in the order they were taken: a list, or the array the report reads them into.
Samples = Sequence[float] | np.ndarray


class Label(StrEnum):
    FASTER = "faster"
    SLOWER = "slower"
    NO_DIFFERENCE = "no significant difference"
    EQUIVALENT = "equivalent"
    TOO_FEW = "too few samples"


@dataclass(frozen=True)
class Summary:
    """Percentiles of one list of timings (same unit as the input)."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    max: float


def summarize(samples: Samples) -> Summary:
    data = _array(samples)
    p50, p95, p99 = np.percentile(data, [50, 95, 99])
    return Summary(
        n=int(data.size),
        p50=float(p50),
        p95=float(p95),
        p99=float(p99),
        mean=float(data.mean()),
        min=float(data.min()),
        max=float(data.max()),
    )


@dataclass(frozen=True)
class Comparison:
    """Candidate against baseline: ratio of medians, its confidence interval and the label."""

    ratio: float  # candidate median / baseline median
    low: float
    high: float
    label: Label
    threshold: float
    confidence: float
    # Bootstrap replicates of log(ratio), kept to combine operations into a weighted mix (not printed).
    log_replicates: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.empty(0))

    @property
    def percent(self) -> float:
        """How much longer the candidate takes, in percent (negative: it is faster)."""
        return (self.ratio - 1.0) * 100.0

    @property
    def inconclusive(self) -> bool:
        """No significant difference, but the interval is too wide to rule out one that matters."""
        band_low, band_high = 1.0 / (1.0 + self.threshold), 1.0 + self.threshold
        return self.label is Label.TOO_FEW or (
            self.label is Label.NO_DIFFERENCE and (self.low < band_low or self.high > band_high)
        )


def classify(ratio: float, low: float, high: float, threshold: float = DEFAULT_THRESHOLD) -> Label:
    """The label for a ratio (candidate / baseline) and its confidence interval."""
    if not all(math.isfinite(v) and v > 0 for v in (ratio, low, high)):
        return Label.TOO_FEW
    if low <= 1.0 <= high:
        return Label.NO_DIFFERENCE  # could be noise, however narrow the interval
    band_low, band_high = 1.0 / (1.0 + threshold), 1.0 + threshold
    # Faster/slower only when the whole interval clears the practical threshold. The same server measured twice
    # (the control) showed real but small systematic offsets (which one runs first, connection state), with
    # intervals that exclude 1 yet reach into the band: that is not a reason to move.
    if low > band_high:
        return Label.SLOWER
    if high < band_low:
        return Label.FASTER
    return Label.EQUIVALENT  # real, but not shown to exceed the practical threshold


def compare(
    baseline: Samples,
    candidate: Samples,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """Block-bootstrap (percentile method) the ratio of medians of two samples of timings, each in run order.

    Each resample draws :data:`BLOCKS` blocks of each sample with replacement; the interval is the central
    ``confidence`` share of the resampled ratios. Deterministic for a given ``seed``: a report rebuilt from the
    same files says the same.
    """
    base, cand = _array(baseline), _array(candidate)
    ratio = float(np.median(cand) / np.median(base))
    if min(base.size, cand.size) < MIN_SAMPLES:
        return Comparison(ratio, math.nan, math.nan, Label.TOO_FEW, threshold, confidence)
    rng = np.random.default_rng(seed)
    log_reps = np.log(_bootstrap_medians(cand, resamples, rng)) - np.log(_bootstrap_medians(base, resamples, rng))
    low, high = _interval(log_reps, confidence)
    return Comparison(ratio, low, high, classify(ratio, low, high, threshold), threshold, confidence, log_reps)


def combine(
    comparisons: Sequence[Comparison],
    weights: Sequence[float],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Comparison:
    """A weighted geometric mean of several ratios, with its bootstrap interval.

    The operations were measured independently, so replicate *i* of each one is combined into replicate *i*
    of the mix: the interval of the mix then carries every operation's uncertainty.
    """
    pairs = [(c, float(w)) for c, w in zip(comparisons, weights, strict=True) if w > 0]
    if not pairs:
        raise ValueError("combine() needs at least one comparison with a positive weight")
    total = sum(w for _, w in pairs)
    log_ratio = sum(w * math.log(c.ratio) for c, w in pairs) / total
    ratio = math.exp(log_ratio)
    usable = [(c, w) for c, w in pairs if c.log_replicates.size]
    if len(usable) < len(pairs):
        return Comparison(ratio, math.nan, math.nan, Label.TOO_FEW, threshold, confidence)
    size = min(c.log_replicates.size for c, _ in usable)
    log_reps = np.asarray(sum(w * c.log_replicates[:size] for c, w in usable) / total)
    low, high = _interval(log_reps, confidence)
    return Comparison(ratio, low, high, classify(ratio, low, high, threshold), threshold, confidence, log_reps)


def drift(samples: Samples, blocks: int = BLOCKS) -> float | None:
    """How unsteady a run was: the slowest block median over the fastest (1.0 = perfectly steady).

    A quiet machine gives ~1.1; another process competing for the CPU during part of a run gives 1.5 and more.
    None when there are too few rounds for blocks of at least five.
    """
    data = _array(samples)
    if data.size < blocks * 5:
        return None
    medians = [float(np.median(block)) for block in np.array_split(data, blocks)]
    return max(medians) / min(medians)


def crossovers(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> list[tuple[float, float, str]]:
    """Where curve ``b`` overtakes curve ``a`` (or the reverse): ``(x, y, "a"|"b")`` per crossing.

    Both are ``(rows, latency)`` points; only sizes present in both count. The crossing is interpolated on
    log-log axes (latency grows roughly as a power of the row count), and the last element names the curve that
    is lower (faster) after it.
    """
    ya, yb = dict(a), dict(b)
    xs = sorted(set(ya) & set(yb))
    found: list[tuple[float, float, str]] = []
    for x0, x1 in zip(xs, xs[1:], strict=False):
        d0 = math.log(yb[x0]) - math.log(ya[x0])
        d1 = math.log(yb[x1]) - math.log(ya[x1])
        if d0 == 0 or d0 * d1 >= 0:
            continue
        t = d0 / (d0 - d1)
        lx = math.log(x0) + t * (math.log(x1) - math.log(x0))
        ly = math.log(ya[x0]) + t * (math.log(ya[x1]) - math.log(ya[x0]))
        found.append((math.exp(lx), math.exp(ly), "b" if d1 < 0 else "a"))
    return found


def _array(samples: Samples) -> np.ndarray:
    data = np.asarray(samples, dtype=float)
    if data.ndim != 1 or data.size == 0:
        raise ValueError("need a non-empty list of timings")
    if not np.all(np.isfinite(data)) or np.any(data <= 0):
        raise ValueError("timings must be finite and positive")
    return data


def _bootstrap_medians(data: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    blocks = min(BLOCKS, data.size)
    length = data.size // blocks
    # Equal blocks keep the resampling vectorised; the last few rounds (fewer than BLOCKS) are left out.
    table = data[: blocks * length].reshape(blocks, length)
    out = np.empty(resamples)
    chunk = max(1, _CHUNK_ELEMENTS // (blocks * length))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, blocks, size=(stop - start, blocks))
        out[start:stop] = np.median(table[idx].reshape(stop - start, -1), axis=1)
    return out


def _interval(log_replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(log_replicates, [tail, 100.0 - tail])
    return float(math.exp(low)), float(math.exp(high))
