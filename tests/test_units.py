"""Human-friendly numbers on literal inputs: sizes in MiB and ratio intervals, written once for every report."""

from __future__ import annotations

import math

import pytest

from dbbench.units import format_count, format_interval, format_mib

pytestmark = pytest.mark.nodb  # runs on a machine without database servers


def test_mib_rounds_to_whole_mebibytes_with_separators() -> None:
    assert format_mib(2**30) == "1,024 MiB"
    assert format_mib(1_380_000_000) == "1,316 MiB"
    assert format_mib(0) == "0 MiB"


def test_interval_as_a_table_cell_and_as_prose() -> None:
    assert format_interval(1.0234, 1.1) == "1.02-1.10"
    assert format_interval(0.951, 1.049, 0.95) == "95% CI 0.95-1.05"
    # A bootstrap of too few samples has no ends: each caller says so in its own words.
    assert format_interval(math.nan, 1.1) == "-"
    assert format_interval(0.9, math.inf, 0.95, missing="too few samples for an interval") == (
        "too few samples for an interval"
    )


def test_counts() -> None:
    assert [format_count(n) for n in (999, 10_000, 2_500_000, 1_234)] == ["999", "10k", "2.5m", "1234"]
