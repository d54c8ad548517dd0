"""Reads an app page makes: one attempt, a student's dashboard, a leaderboard, per-quiz statistics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dbbench.bench.workloads import LEADERBOARD_LIMIT, RECENT_LIMIT


def test_pk_lookup(measure: Callable[[], Any]) -> None:
    assert measure()  # a model instance (orm) or one row (raw)


def test_student_recent(measure: Callable[[], Any]) -> None:
    # Some seeded students never took a quiz (244 of 5,000 at 100k): their dashboard is empty.
    assert len(measure()) <= RECENT_LIMIT


def test_leaderboard(measure: Callable[[], Any]) -> None:
    assert len(measure()) <= LEADERBOARD_LIMIT


def test_count_by_quiz(measure: Callable[[], Any]) -> None:
    assert measure()  # one row per quiz that has attempts
