"""Statistics on literal inputs: known distributions give known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dbbench.stats import Label, classify, combine, compare, crossovers, summarize

pytestmark = pytest.mark.nodb  # runs on a machine without database servers


def _lognormal(median_ms: float, n: int, seed: int, sigma: float = 0.25) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(math.log(median_ms), sigma, n)


def test_percentiles_of_a_known_list() -> None:
    s = summarize(list(range(1, 101)))  # 1..100
    assert s.n == 100
    assert s.p50 == pytest.approx(50.5)
    assert s.p95 == pytest.approx(95.05)
    assert s.p99 == pytest.approx(99.01)
    assert (s.min, s.max, s.mean) == (1, 100, 50.5)


def test_identical_samples_show_no_significant_difference() -> None:
    a = _lognormal(1.0, 500, seed=1)
    c = compare(a, a.copy())
    assert c.ratio == 1.0
    assert c.low < 1.0 < c.high
    assert c.label is Label.NO_DIFFERENCE


def test_two_draws_of_one_distribution_are_not_called_a_difference() -> None:
    c = compare(_lognormal(1.0, 400, seed=2), _lognormal(1.0, 400, seed=3))
    assert c.label in (Label.NO_DIFFERENCE, Label.EQUIVALENT)
    assert c.low < 1.05 and c.high > 1 / 1.05


@pytest.mark.parametrize(("factor", "label"), [(2.0, Label.SLOWER), (0.5, Label.FASTER)])
def test_a_2x_shift_is_detected_with_the_right_sign(factor: float, label: Label) -> None:
    base = _lognormal(1.0, 300, seed=4)
    c = compare(base, _lognormal(factor, 300, seed=5))
    assert c.label is label
    assert c.low <= factor * 1.1 and c.high >= factor / 1.1
    assert c.ratio == pytest.approx(factor, rel=0.1)
    assert c.percent == pytest.approx((c.ratio - 1) * 100)


def test_a_real_but_small_difference_is_equivalent_not_a_win() -> None:
    # 2% slower, with so many rounds and so little noise that the interval excludes 1.
    base = _lognormal(1.0, 4000, seed=6, sigma=0.02)
    c = compare(base, base * 1.02)
    assert c.low > 1.0
    assert c.label is Label.EQUIVALENT


def test_the_threshold_is_a_parameter() -> None:
    base = _lognormal(1.0, 4000, seed=7, sigma=0.02)
    assert compare(base, base * 1.08).label is Label.SLOWER
    assert compare(base, base * 1.08, threshold=0.10).label is Label.EQUIVALENT


def test_too_few_samples_get_no_label() -> None:
    c = compare([1.0, 1.1], [2.0, 2.1])
    assert c.label is Label.TOO_FEW
    assert math.isnan(c.low) and c.inconclusive


def test_wide_interval_around_one_is_inconclusive() -> None:
    c = compare(_lognormal(1.0, 8, seed=8, sigma=0.8), _lognormal(1.0, 8, seed=9, sigma=0.8))
    assert c.label is Label.NO_DIFFERENCE
    assert c.inconclusive


def test_a_slow_stretch_of_rounds_widens_the_interval() -> None:
    # 45% of the candidate's rounds ran in one slow stretch (another process): its median barely moves, but a
    # run at another moment could have caught more of that stretch. Shuffled, the same timings look precise.
    base = _lognormal(1.0, 1000, seed=20, sigma=0.05)
    drift = np.concatenate([_lognormal(1.5, 450, seed=21, sigma=0.05), _lognormal(1.0, 550, seed=22, sigma=0.05)])
    in_order = compare(base, drift)
    shuffled = compare(base, np.random.default_rng(23).permutation(drift))
    assert in_order.ratio == shuffled.ratio
    assert in_order.high > 1.3  # the interval reaches the slow regime
    assert shuffled.high < 1.15


def test_bootstrap_is_deterministic() -> None:
    a, b = _lognormal(1.0, 100, seed=10), _lognormal(1.2, 100, seed=11)
    assert (compare(a, b).low, compare(a, b).high) == (compare(a, b).low, compare(a, b).high)


@pytest.mark.parametrize(
    ("ratio", "low", "high", "label"),
    [
        (1.00, 0.90, 1.10, Label.NO_DIFFERENCE),
        (1.30, 0.99, 1.60, Label.NO_DIFFERENCE),  # probably slower, but noise cannot be ruled out
        (1.03, 1.01, 1.05, Label.EQUIVALENT),
        (0.97, 0.95, 0.99, Label.EQUIVALENT),
        (1.20, 1.10, 1.30, Label.SLOWER),
        (0.80, 0.70, 0.90, Label.FASTER),
        (math.nan, math.nan, math.nan, Label.TOO_FEW),
    ],
)
def test_classify_rules(ratio: float, low: float, high: float, label: Label) -> None:
    assert classify(ratio, low, high) is label


def test_combine_weighs_the_ratios_geometrically() -> None:
    base = _lognormal(1.0, 300, seed=12)
    slow = compare(base, _lognormal(2.0, 300, seed=13))
    fast = compare(base, _lognormal(0.5, 300, seed=14))
    even = combine([slow, fast], [1, 1])
    assert even.ratio == pytest.approx(math.sqrt(slow.ratio * fast.ratio))
    assert even.low < even.ratio < even.high
    mostly_slow = combine([slow, fast], [3, 1])
    assert mostly_slow.ratio == pytest.approx(slow.ratio**0.75 * fast.ratio**0.25)
    assert mostly_slow.label is Label.SLOWER
    assert combine([slow, fast], [1, 0]).ratio == pytest.approx(slow.ratio)
    with pytest.raises(ValueError):
        combine([slow], [0])


def test_crossovers_on_log_axes() -> None:
    a = [(1_000, 1.0), (10_000, 2.0), (100_000, 4.0)]
    b = [(1_000, 0.5), (10_000, 4.0), (100_000, 8.0)]  # b faster at 1k, slower from between 1k and 10k
    (x, y, lower) = crossovers(a, b)[0]
    assert 1_000 < x < 10_000 and 1.0 < y < 2.0
    assert lower == "a"
    assert crossovers(a, [(1_000, 2.0), (10_000, 3.0)]) == []
    assert crossovers(b, a)[0][2] == "b"


def test_bad_timings_are_refused() -> None:
    with pytest.raises(ValueError):
        summarize([])
    with pytest.raises(ValueError):
        compare([1.0, -1.0, 2.0, 3.0, 4.0], [1.0] * 5)
