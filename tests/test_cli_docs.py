"""Every CLI command has help text and a section in the README (as sqlite-utils does)."""

from __future__ import annotations

import pytest

from dbbench.cli import COMMANDS, build_parser
from tests.helpers import ROOT, run_cli

pytestmark = pytest.mark.nodb  # runs on a machine without database servers

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", [c[0] for c in COMMANDS])
def test_command_has_help_and_readme_section(name: str) -> None:
    handler = next(c[1] for c in COMMANDS if c[0] == name)
    assert handler.__doc__ and "Example:" in handler.__doc__, f"{name}: docstring needs help text and an Example"
    assert f"### `dbbench {name}" in README, f"README lacks a section for dbbench {name}"
    assert name in build_parser().format_help()


def test_help_runs() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for name, _, _ in COMMANDS:
        assert name in proc.stdout


def test_no_command_is_a_usage_error() -> None:
    proc = run_cli()
    assert proc.returncode == 2 and proc.stderr.startswith("dbbench: error:") and "COMMAND" in proc.stderr
