"""Helpers the tests share (fixtures live in conftest.py): paths, the configured targets, the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dbbench.backends.targets import targets_from_env

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
TARGETS = targets_from_env()
ALIASES = [t.name for t in TARGETS]
# pytest-django sets up a test database per alias; tests that touch the ORM name them all.
ALL_DATABASES = ["default", *ALIASES]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dbbench ARGS`` in a subprocess, the way a user runs it."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "-m", "dbbench", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=ROOT,
    )
