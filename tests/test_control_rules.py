"""The run's control and the stopping rule, on synthetic timings with known answers (no database needed)."""

from __future__ import annotations

import numpy as np
import pytest

from dbbench.bench.measure import MAX_BLOCK, BackendRun, block_size, precise
from dbbench.report.data import CONTROL_FLOOR_LIMIT, Row, control_check, noise_floor
from dbbench.stats import compare

pytestmark = pytest.mark.nodb


def _timings(seed: int, n: int, sigma: float, bursts: float = 0.0) -> np.ndarray:
    """Lognormal call times around 1 ms; ``bursts``: the share of rounds, in runs of 50, that another process
    slowed down 1.5-4x (what scripts/cpu_noise.py does to a core)."""
    rng = np.random.default_rng(seed)
    samples = rng.lognormal(np.log(1.0), sigma, n)
    if bursts:
        for start in range(0, n, 50):
            if rng.random() < bursts:
                samples[start : start + 50] *= rng.uniform(1.5, 4.0)
    return samples


def _row(control_samples: np.ndarray, base_samples: np.ndarray, name: str = "pk_lookup") -> Row:
    return Row(name, "orm", 100_000, {}, {}, {}, control=compare(base_samples, control_samples))


def test_a_quiet_control_passes_and_sets_a_small_floor() -> None:
    rows = [_row(_timings(i, 3000, 0.15), _timings(100 + i, 3000, 0.15), f"op{i}") for i in range(4)]
    check = control_check(rows)
    assert check is not None and check.ok and check.caveat is None
    assert check.comparisons == 4 and 0 < check.floor < 0.05


def test_a_disturbed_control_fails_and_says_so() -> None:
    # Bursts hit the two names at different times, as they do on a busy machine: the control drifts apart.
    rows = [_row(_timings(i, 300, 0.15, bursts=0.4), _timings(100 + i, 300, 0.15), f"op{i}") for i in range(4)]
    check = control_check(rows)
    assert check is not None and not check.ok
    assert check.floor > CONTROL_FLOOR_LIMIT or check.false_differences
    assert check.caveat is not None and check.caveat.startswith("the machine was disturbed")


def test_no_control_no_check() -> None:
    assert control_check([Row("pk_lookup", "orm", 1, {}, {}, {})]) is None
    assert noise_floor([]) is None


def test_the_floor_is_how_far_the_control_reached() -> None:
    floor = noise_floor([compare(_timings(1, 500, 0.3), _timings(2, 500, 0.3))])
    assert floor is not None and 0 < floor < 0.2


def _runs(samples: dict[str, np.ndarray]) -> dict[str, BackendRun]:
    return {alias: BackendRun(alias, timings=list(map(float, s))) for alias, s in samples.items()}


def test_the_stopping_rule_waits_for_a_tight_interval() -> None:
    few = _runs({"pg": _timings(1, 60, 0.4), "my": _timings(2, 60, 0.4)})
    assert not precise(few, ["pg", "my"], 0.05)
    many = _runs({"pg": _timings(1, 6000, 0.1), "my": _timings(2, 6000, 0.1) * 1.3})
    assert precise(many, ["pg", "my"], 0.05)  # a clear 1.3x, known to within 5%
    # Every candidate must be tight, the control included.
    loose = _runs({"pg": _timings(1, 6000, 0.1), "my": _timings(2, 6000, 0.1), "ctl": _timings(3, 20, 0.5)})
    assert not precise(loose, ["pg", "my", "ctl"], 0.05)
    # A backend that failed does not hold the others up.
    failed = _runs({"pg": _timings(1, 6000, 0.1), "my": _timings(2, 6000, 0.1)})
    failed["gone"] = BackendRun("gone", timings=[0.001], error=RuntimeError("server gone"))
    assert precise(failed, ["pg", "my", "gone"], 0.05)


def test_backends_take_turns_in_blocks_of_a_few_milliseconds() -> None:
    assert block_size(0.000_1) == MAX_BLOCK  # a 0.1 ms lookup: 20 calls before the next backend's turn
    assert block_size(0.001) == 5
    assert block_size(0.2) == 1  # a 200 ms scan alternates call by call
    assert block_size(0.0) == MAX_BLOCK


def test_a_run_with_many_uneven_benchmarks_fails_its_control_even_when_the_control_held() -> None:
    quiet = [_row(_timings(i, 3000, 0.15), _timings(100 + i, 3000, 0.15), f"op{i}") for i in range(4)]
    uneven = [Row(f"other{i}", "orm", 1, {}, {}, {}, drifts={"a": 2.0}) for i in range(2)]
    check = control_check(quiet + uneven)
    assert check is not None and check.floor < 0.05 and not check.false_differences
    assert not check.ok and check.unsteady == 2 and check.benchmarks == 6
    assert check.caveat is not None and "in 2 of 6 benchmarks" in check.caveat
    assert control_check(quiet + uneven[:1] + [Row("x", "orm", 1, {}, {}, {}, drifts={"a": 1.1})] * 4).ok
