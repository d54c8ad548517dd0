"""JSON queries without an index: a key transform, containment, has_key (each counts over every attempt)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_json_filter(measure: Callable[[], Any]) -> None:
    assert measure() >= 0


def test_json_contains(measure: Callable[[], Any]) -> None:
    assert measure() >= 0


def test_json_has_key(measure: Callable[[], Any]) -> None:
    assert measure() > 0  # some seeded attempts carry a referrer
