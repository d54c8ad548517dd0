"""Every CLI command has help text and a page in the docs (as sqlite-utils does), and every command page is one.

The pages live in the documentation site (``docs/commands/<command>.md``, built by ``mkdocs build --strict``);
README.md is a front page that links to them.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest

from dbbench.cli import COMMANDS, build_parser
from tests.helpers import ROOT, run_cli

pytestmark = pytest.mark.nodb  # runs on a machine without database servers

PAGES = ROOT / "docs" / "commands"
# Pages under docs/commands/ that are not a command of their own (none yet): name them here, with why.
OTHER_PAGES: set[str] = set()


@pytest.mark.parametrize("name", [c[0] for c in COMMANDS])
def test_command_has_help_and_a_page(name: str) -> None:
    handler = next(c[1] for c in COMMANDS if c[0] == name)
    assert handler.__doc__ and "Example:" in handler.__doc__, f"{name}: docstring needs help text and an Example"
    assert name in build_parser().format_help()
    page = PAGES / f"{name}.md"
    assert page.is_file(), f"docs/commands/{name}.md is missing: every command has a page"
    title = page.read_text(encoding="utf-8").splitlines()[0]
    assert title == f"# dbbench {name}", f"docs/commands/{name}.md should start with '# dbbench {name}'"


def test_every_command_page_is_a_command() -> None:
    commands = {c[0] for c in COMMANDS}
    strays = sorted(p.stem for p in PAGES.glob("*.md") if p.stem not in commands | OTHER_PAGES)
    assert not strays, f"pages for no command (remove them, or list them in OTHER_PAGES): {strays}"


def test_readme_links_every_command_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [c[0] for c in COMMANDS if f"(docs/commands/{c[0]}.md)" not in readme]
    assert not missing, f"README links no page for: {missing}"


def test_help_runs() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for name, _, _ in COMMANDS:
        assert name in proc.stdout


def test_version_is_the_package_metadata() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"dbbench {version('dbbench')}"


def test_no_command_is_a_usage_error() -> None:
    proc = run_cli()
    assert proc.returncode == 2 and proc.stderr.startswith("dbbench: error:") and "COMMAND" in proc.stderr
