"""``migrate-data --fit-with`` files whose figures no measurement has (booleans, extreme or non-finite numbers)
are refused in one line before anything is copied, not with ZeroDivisionError after the whole copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dbbench.errors import ResultsError
from dbbench.rehearsal.estimate import estimate, load_points
from dbbench.results import write_result
from tests.helpers import run_cli
from tests.test_rehearsal_parts import _result

pytestmark = pytest.mark.nodb


def _saved(tmp_path: Path, **changes: Any) -> Path:
    data = {**_result(12.0, 5.0, 100_000).as_dict(), **changes}
    return write_result(tmp_path / "earlier.json", "rehearsal", data)


@pytest.mark.parametrize(
    "changes",
    [
        {"copy_seconds": 1e-320},  # M9: 1/y**2 divides by zero
        {"copy_seconds": 1e308},  # M9: y**2 overflows
        {"verify_seconds": float("inf")},
        {"attempts": 10**30},
        {"attempts": True},  # L10: a boolean is no count
        {"copy_seconds": True},  # L10: nor a duration
    ],
)
def test_implausible_figures_are_refused_by_name(tmp_path: Path, changes: dict[str, Any]) -> None:
    path = _saved(tmp_path, **changes)
    with pytest.raises(ResultsError, match=f"{next(iter(changes))} is"):
        load_points([path])


def test_plausible_figures_fit_and_estimate(tmp_path: Path) -> None:
    result = _result(102.0, 41.0)
    result.earlier = load_points([_saved(tmp_path, copy_seconds=0.002, verify_seconds=9e6)])
    assert estimate(result, 10_000_000)["downtime_seconds"] >= 0


def test_the_cli_refuses_them_before_copying(tmp_path: Path) -> None:
    path = _saved(tmp_path, copy_seconds=1e-320)
    proc = run_cli("migrate-data", "--from", "postgres", "--to", "mysql", "--fit-with", str(path), timeout=60)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1, proc.stderr
    assert "copy_seconds is 1e-320" in proc.stderr and "Traceback" not in proc.stderr
