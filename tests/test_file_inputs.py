"""Files a user names (report inputs, --fit-with, --mix, audited sources, a results folder): only regular files
are read, up to a size; a FIFO, a device or a huge file is one line, never a hang or gigabytes of memory."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dbbench.audit.scan import audit_path
from dbbench.rehearsal.estimate import earlier_points
from tests.helpers import run_cli

pytestmark = pytest.mark.nodb
QUICK_S = 60  # each command ends in about a second; a hang is stopped here and fails the test


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _one_line(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dbbench: error: ") and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("kind", ["fifo", "/dev/urandom", "huge"])
def test_report_reads_regular_files_only(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = _fifo(tmp_path / "results.json")
    elif kind == "huge":
        path = tmp_path / "huge.json"
        with open(path, "wb") as handle:
            handle.truncate(300 * 2**20)  # sparse: no disk used, 300 MB to whoever reads it
    else:
        path = Path(kind)
    proc = run_cli("report", str(path), "--output-dir", str(tmp_path / "out"), timeout=QUICK_S)
    _one_line(proc, "not read")


def test_fit_with_a_fifo_is_one_line_before_copying(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "rehearsal-old.json")
    proc = run_cli("migrate-data", "--from", "postgres", "--to", "mysql", "--fit-with", str(fifo), timeout=QUICK_S)
    _one_line(proc, "FIFO")


def test_mix_file_that_is_a_device_is_one_line(tmp_path: Path) -> None:
    results = tmp_path / "none.json"
    proc = run_cli("report", str(results), "--mix", "/dev/zero", timeout=QUICK_S)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_a_fifo_left_in_the_results_folder_is_passed_over(tmp_path: Path) -> None:
    _fifo(tmp_path / "rehearsal-20260101-000000.json")
    (tmp_path / "run-1").mkdir()
    _fifo(tmp_path / "run-1" / "rehearsal.json")
    assert earlier_points(tmp_path) == []  # returns instead of waiting for a writer


def test_audit_skips_fifos_huge_files_and_links_out_of_the_tree(tmp_path: Path) -> None:
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    (project / "views.py").write_text("from django.db import connection\n")
    _fifo(project / "pipe.py")
    with open(project / "huge.py", "wb") as handle:
        handle.truncate(50 * 2**20)
    secret = outside / "elsewhere.py"
    secret.write_text("syntax error here (\n")  # would be a finding if it were read
    (project / "linked.py").symlink_to(secret)
    result = audit_path(project)
    files = {f.file for f in result.findings}
    assert {"pipe.py", "huge.py"} <= files, files
    assert "linked.py" not in files and result.files == 2 + 1  # views, pipe, huge: the link is not the project's
