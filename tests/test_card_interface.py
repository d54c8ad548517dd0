"""The card's own interface off the default targets: ``pytest --benchmark-only`` at the repository root collects
``tests/`` with one target or two of one family, and ``pytest dbbench/bench/suite --benchmark-only`` works
without ``DJANGO_SETTINGS_MODULE`` set by hand (issue 31)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.nodb
PG = "postgres://postgres@127.0.0.1:5432/dbbench_card"
MY = "mysql://root@127.0.0.1:3306/dbbench_card"
# The modules that looked for a target of each family at import (StopIteration stopped the whole collection).
MODULES = ["tests/test_bad_input.py", "tests/test_rehearsal.py", "tests/test_benchmarks_quick.py"]


def _collect(targets: str, *paths: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DBBENCH_TARGETS"] = targets
    argv = [sys.executable, "-m", "pytest", "--benchmark-only", "--collect-only", "-q", "-p", "no:randomly", *paths]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("targets", [f"pg={PG}", f"my={MY}", f"pg={PG},pg2={PG}2"], ids=["pg", "mariadb", "pg+pg"])
def test_the_tests_are_collected_off_the_default_targets(targets: str) -> None:
    proc = _collect(targets, *MODULES)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "StopIteration" not in proc.stdout + proc.stderr and " collected" in proc.stdout


def test_the_suite_runs_by_hand_without_settings_in_the_environment() -> None:
    proc = _collect(f"pg={PG}", "dbbench/bench/suite")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "ImproperlyConfigured" not in proc.stdout + proc.stderr and " collected" in proc.stdout
