"""Terminal escapes and ``javascript:`` links in result files never reach report.md as they are (issue 31, L1)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dbbench import markdown
from dbbench.report.build import build_report
from tests.helpers import FIXTURES

pytestmark = pytest.mark.nodb
HOSTILE = "\x1b]8;;javascript:alert(1)\x07[click](javascript:alert(1))\x1b[2J"


def test_the_markdown_helpers_drop_escapes_and_links() -> None:
    for shown in (markdown.text(HOSTILE), markdown.cell(HOSTILE), markdown.code(HOSTILE)):
        assert "\x1b" not in shown and "\x07" not in shown, repr(shown)
    for shown in (markdown.text(HOSTILE), markdown.cell(HOSTILE)):
        assert not re.search(r"(?<!\\)\]\(javascript", shown), shown  # an escaped "\]" opens no link


def test_a_hostile_result_file_gives_a_clean_report(tmp_path: Path) -> None:
    document = json.loads((FIXTURES / "results_small.json").read_text())
    for bench in document["benchmarks"]:
        info = bench["extra_info"]["dbbench"]
        info["server"]["settings"]["collation"] = HOSTILE
        info["description"] = HOSTILE
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(document))
    md, html = build_report([path], tmp_path / "out", {"pk_lookup": 1.0})
    for text in (md.read_text(), html.read_text()):
        assert "\x1b" not in text and "\x07" not in text
    assert 'href="javascript' not in html.read_text()
