from __future__ import annotations

import pytest

from dbbench.errors import ConfigError
from dbbench.units import format_count, parse_count, parse_counts

pytestmark = pytest.mark.nodb  # runs on a machine without database servers


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), ("10000", 10_000), ("10_000", 10_000), ("100k", 100_000), ("1m", 1_000_000), ("2.5M", 2_500_000)],
)
def test_parse_count(text: str, value: int) -> None:
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["0", "-5", "abc", "", "1.5", "0.0001k", "1e6", "10 000"])
def test_bad_counts(text: str) -> None:
    with pytest.raises(ConfigError, match="bad count"):
        parse_count(text)


def test_parse_counts_sorts_and_dedups() -> None:
    assert parse_counts("100k,10k,100000") == [10_000, 100_000]


def test_format_count() -> None:
    assert [format_count(n) for n in (7, 10_000, 100_000, 2_500_000, 1_234)] == ["7", "10k", "100k", "2.5m", "1234"]
