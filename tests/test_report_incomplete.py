"""A benchmark run that crashed before its largest size: the report says so beside the verdict (issue 31, M12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbbench.report.build import build_report
from dbbench.report.data import load_results
from tests.helpers import FIXTURES

pytestmark = pytest.mark.nodb
MIX = {"pk_lookup": 1.0, "student_recent": 1.0}


def test_a_missing_largest_size_is_named_beside_the_verdict(tmp_path: Path) -> None:
    document = json.loads((FIXTURES / "results_small.json").read_text())
    assert document["dbbench_run"]["sizes"] == [1000, 2000]
    document["dbbench_run"]["sizes"] = [1000, 2000, 100_000]  # asked for 100k, crashed before measuring it
    crashed = tmp_path / "crashed.json"
    crashed.write_text(json.dumps(document))
    md, _ = build_report([crashed], tmp_path / "crashed", MIX)
    verdict = md.read_text().split("## Verdict", 1)[1].split("\n## ", 1)[0]
    assert "Incomplete run" in verdict and "100,000" in verdict and "2,000" in verdict


def test_a_complete_run_has_no_such_line() -> None:
    assert load_results([FIXTURES / "results_small.json"]).missing_size is None
