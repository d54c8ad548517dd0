"""Writes: one attempt, a submitted quiz, 1,000 attempts at once, a regrade (ORM and raw-SQL twins)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dbbench.bench.workloads import BULK_ROWS


def test_insert_attempt(measure: Callable[[], Any]) -> None:
    assert measure() > 0  # the new attempt's id


def test_submit_quiz(measure: Callable[[], Any]) -> None:
    attempt_id, score = measure()
    assert attempt_id > 0 and 0 <= score <= 100


def test_bulk_insert(measure: Callable[[], Any]) -> None:
    assert measure() == BULK_ROWS


def test_update_attempt(measure: Callable[[], Any]) -> None:
    assert measure() == 1  # rows matched
