"""Reads an app page makes: one attempt, a student's dashboard, a leaderboard, per-quiz statistics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dbbench.workloads import LEADERBOARD_LIMIT, RECENT_LIMIT


def test_pk_lookup(measure: Callable[[], Any]) -> None:
    assert measure()  # a model instance (orm) or one row (raw)


def test_student_recent(measure: Callable[[], Any]) -> None:
    assert 1 <= len(measure()) <= RECENT_LIMIT  # every seeded student has an attempt


def test_leaderboard(measure: Callable[[], Any]) -> None:
    assert len(measure()) <= LEADERBOARD_LIMIT


def test_count_by_quiz(measure: Callable[[], Any]) -> None:
    assert measure()  # one row per quiz that has attempts
