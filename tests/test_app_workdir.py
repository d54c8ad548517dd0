"""``dbbench app`` with a suite that deletes dbbench's folder (in its environment) or its own working directory:
the first backend's results are kept and the next backend still runs or is reported as crashed (issue 31, L9)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, TARGETS, run_cli

pytestmark = pytest.mark.slow
PG = next((t for t in TARGETS if t.family == "postgresql"), None)
MY = next((t for t in TARGETS if t.family == "mysql"), None)
DELETES = {"dbbench's folder": 'shutil.rmtree(os.environ["DBBENCH_APP_WORKDIR"])'}


@pytest.mark.skipif(PG is None or MY is None, reason="needs a PostgreSQL and a MySQL-family target")
@pytest.mark.parametrize("what", list(DELETES))
def test_a_suite_that_deletes_its_folder_keeps_the_first_backends_results(tmp_path: Path, what: str) -> None:
    project = tmp_path / "shop"
    shutil.copytree(FIXTURES / "app_projects" / "shop", project)
    tests = project / "catalog" / "tests.py"
    tests.write_text(
        tests.read_text() + "\n\nclass ZZDeletes(TestCase):\n    def test_deletes(self):\n"
        f"        import os, shutil\n\n        {DELETES[what]}\n"
    )
    out = tmp_path / "app.json"
    targets = [arg for t in (PG, MY) for arg in ("--target", f"{t.name}={t.url}")]  # type: ignore[union-attr]
    proc = run_cli("app", str(project), *targets, "--output", str(out), "--no-audit")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert out.exists(), proc.stderr
    runs = json.loads(out.read_text())["data"]["runs"]
    assert [r["target"] for r in runs] == [PG.name, MY.name]  # type: ignore[union-attr]
    assert len(runs[0]["tests"]) >= 7  # the baseline's results survived
