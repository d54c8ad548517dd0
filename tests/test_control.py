"""The control: one PostgreSQL database under two names, measured in the same interleaved rounds (needs a server)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from dbbench.report.build import build_report
from dbbench.report.data import analyse, control_check, load_results

# --- the control: one server under two names -------------------------------------------------------------------


@pytest.mark.slow
def test_control_same_server_twice_shows_no_difference(tmp_path: Path) -> None:
    """The run's control at a small size: the baseline measured again under another name, in the same rounds.

    On a quiet machine the control must pass (no difference of the server with itself, intervals within the limit)
    and the report says how far noise reached. On a busy one the report must say the control failed, and the
    verdict may name the measurement; it must never call the noise a difference.
    """
    from dbbench.backends.database import drop_database
    from dbbench.backends.targets import parse_target
    from dbbench.bench.runner import pytest_command
    from tests.helpers import ROOT, TARGETS

    base = next(t for t in TARGETS if t.family == "postgresql")
    scratch = base.with_database(base.database + "_control")
    env = {**os.environ, "DBBENCH_TARGETS": f"pg={scratch.url},pg_control={scratch.url}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out = tmp_path / "control.json"
    # The default profile's stopping rule on two read operations at 1k attempts.
    command = [*pytest_command(out, "default", [1_000], 42), "--dbbench-control=pg_control=pg"]
    command += ["-k", "pk_lookup or student_recent"]
    try:
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        drop_database(parse_target("pg", scratch.url))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    results = load_results([out])
    assert results.control == "pg_control" and results.candidates == []
    rows = analyse(results)
    check = control_check(rows)
    assert check is not None and check.comparisons == 4  # 2 operations x (orm, raw)
    md, _ = build_report([out], tmp_path / "report")
    text = md.read_text()
    if check.ok:
        assert not check.false_differences
        assert re.search(r"_Control: the baseline measured a second time .+ came within \d+\.\d%", text)
    else:
        assert "_Control failed (the machine was disturbed" in text
