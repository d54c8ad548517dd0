"""The report reads in five minutes: the decision, its reasons and the numbers behind them first; long lists
folded away (report.html) or pointed to (report.md); each caveat once; a rebuild command that runs as printed."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbbench import markdown
from dbbench.report.build import build_report
from dbbench.report.data import buffer_note, fairness_flags, load_results
from tests.helpers import FIXTURES

pytestmark = pytest.mark.nodb

FILES = [FIXTURES / "results_small.json", FIXTURES / "parity_small.json", FIXTURES / "load_small.json"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    folder = tmp_path_factory.mktemp("short")
    for f in FILES:
        shutil.copy(f, folder / f.name)
    md, html = build_report([folder / f.name for f in FILES], folder)
    return md.read_text(), html.read_text(), folder


def test_the_numbers_behind_the_decision_come_right_after_its_reasons(built: tuple[str, str, Path]) -> None:
    md, _, _ = built
    verdict = md.split("## Verdict", 1)[1].split("\n## ", 1)[0]
    reasons_end = max(verdict.rfind("([numbers](#"), 0)
    table = verdict.index("| the numbers behind it |")
    assert table > reasons_end
    assert "| operation mix (" in verdict[table:]


def test_long_lists_are_folded_in_html_and_pointed_to_in_markdown(built: tuple[str, str, Path]) -> None:
    md, html, _ = built
    assert "<!--dbbench:fold" not in md and "<!--dbbench:fold" not in html
    assert "_Same on every server (" in md and "in report.html, folded._" in md
    assert "<details><summary>Same on every server (" in html
    assert "<details><summary>Every operation at every size (" in html
    # The portability summary is a table by category, in both.
    assert "| category | same | different | unsupported |" in md
    assert "<th>category</th>" in html


def test_the_rebuild_command_runs_as_printed(built: tuple[str, str, Path], tmp_path: Path) -> None:
    md, _, folder = built
    line = next(x for x in md.splitlines() if x.startswith("- Rebuild this report"))
    assert "(in this report's folder)" in line and str(folder) not in line  # names only: no absolute path
    command = shlex.split(line.split("`")[1])
    assert command[:2] == ["dbbench", "report"]
    proc = subprocess.run(
        [sys.executable, "-m", "dbbench", *command[1:]], cwd=folder, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert (folder / "report.md").read_text().count("## Verdict") == 1


def test_files_from_elsewhere_are_named_by_absolute_paths_only(tmp_path: Path) -> None:
    md, _ = build_report(FILES, tmp_path / "out")
    line = next(x for x in md.read_text().splitlines() if x.startswith("- Rebuild this report"))
    words = shlex.split(line.split("`")[1])[2:]
    assert all(Path(w).is_absolute() for w in words if not w.startswith("--")), words


def test_a_buffer_caveat_is_said_once_for_every_backend_it_concerns() -> None:
    results = load_results([FILES[0]])
    for b in results.backends.values():
        b.buffer_bytes = 1  # every server's data outgrows it
        b.settings_by = "as found"
    flags = [f for f in fairness_flags(results) if "buffer" in f]
    assert len(flags) == 1
    measured = [b.display for b in results.backends.values() if not b.control_of]
    assert all(name in flags[0] for name in measured)
    assert buffer_note(results) is None


def test_buffers_dbbench_set_equal_and_outgrown_are_a_choice_not_a_caveat() -> None:
    results = load_results([FILES[0]])
    for b in results.backends.values():
        b.buffer_bytes = 1
        b.settings_by = "set by dbbench"
    assert not [f for f in fairness_flags(results) if "buffer" in f]
    note = buffer_note(results)
    assert note and "on purpose" in note


def test_fold_round_trip() -> None:
    text = "before\n" + markdown.fold("All (3)", "| a |\n|---|\n| 1 |") + "after\n"
    assert markdown.folds(text) == [("before\n", "All (3)", "| a |\n|---|\n| 1 |\n"), ("after\n", "", "")]
    assert markdown.without_folds(text) == "before\n_All (3): in report.html, folded._\nafter\n"
    # Result-file text cannot open a fold: text() escapes the marker's "<".
    assert markdown.folds(markdown.text("<!--dbbench:fold x-->") + "\n") == [
        (markdown.text("<!--dbbench:fold x-->") + "\n", "", "")
    ]
