"""A new connection per request (Django's default ``CONN_MAX_AGE=0``), then one query."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_new_connection(measure: Callable[[], Any]) -> None:
    assert measure()  # the attempt, read over the fresh connection
