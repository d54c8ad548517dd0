"""The docs' tables of profiles, budgets, defaults and the mix match the code, and the docs site builds strictly."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from dbbench.bench.runner import PROFILES
from dbbench.servers import profile as server_profile
from tests.helpers import ROOT

pytestmark = pytest.mark.nodb

_spec = importlib.util.spec_from_file_location("docs_facts", ROOT / "scripts" / "docs_facts.py")
assert _spec and _spec.loader
docs_facts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_facts)


def test_documented_tables_match_the_code() -> None:
    assert docs_facts.stale() == [], "run: python scripts/docs_facts.py"


def test_every_table_is_in_the_docs() -> None:
    text = "".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    assert all(f"<!-- facts:{name} -->" in text for name in docs_facts.TABLES)


def test_a_drifted_table_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "profiles.md"
    page.write_text((ROOT / "docs" / "profiles.md").read_text())
    assert docs_facts.stale(tmp_path) == []
    monkeypatch.setitem(PROFILES, "quick", PROFILES["quick"].__class__(**{**vars(PROFILES["quick"]), "min_rounds": 4}))
    assert docs_facts.stale(tmp_path) == ["profiles.md"]


def test_server_buffers_fit_the_default_profiles_largest_size() -> None:
    assert max(PROFILES["default"].sizes) == server_profile.FIT_ATTEMPTS
    assert server_profile.default_buffers(24 * 2**30) == server_profile.FIT_BUFFERS
    assert server_profile.default_buffers(4 * 2**30) == 512 * 2**20  # an eighth of a small machine


def test_docs_site_builds_strictly_and_fetches_nothing(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = "".join(p.read_text() for p in (tmp_path / "site").rglob("*.html"))
    assert 'src="http' not in html and 'rel="stylesheet" href="http' not in html
