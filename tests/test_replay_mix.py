"""Your mix from a replay's timings (literal inputs), and the report's verdict using it in place of the quiz mix."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from dbbench.replay.mix import mix
from dbbench.results import write_result
from tests.helpers import FIXTURES

pytestmark = pytest.mark.nodb


def _timings(median: float, n: int = 200, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [median * (1 + rng.uniform(-0.05, 0.05)) for _ in range(n)]


def _replay(shares: dict[str, tuple[float, float]]) -> dict:
    """A replay of shapes ``id -> (share of captured time, candidate's time ratio)`` on postgres -> mysql."""
    shapes = []
    for i, (shape, (share, ratio)) in enumerate(shares.items()):
        shapes.append(
            {
                "id": shape,
                "status": "replayed",
                "share": share,
                "sites": [f"shop/views.py:{10 + i} in view"],
                "operation": None,
                "sql": "SELECT 1",
                "kind": "select",
                "timings_ms": {
                    "postgres": _timings(1.0, seed=i),
                    "mysql": _timings(ratio, seed=100 + i),
                    "postgres_control": _timings(1.0, seed=200 + i),
                },
            }
        )
    shapes.append(
        {
            "id": "rawpg",
            "status": "not_replayable",
            "share": 0.05,
            "sites": [],
            "sql": "SELECT 1 @> 2",
            "reason": "raw PostgreSQL SQL: not replayable",
            "audit": ["@> containment"],
            "kind": "select",
        }
    )
    return {
        "baseline": "postgres",
        "candidate": "mysql",
        "control": "postgres_control",
        "vendors": {"postgres": "PostgreSQL", "mysql": "MariaDB"},
        "instances": 20,
        "captured": {"project": {"name": "shop"}, "statements": 1000},
        "row_counts_before": {"postgres": {"shop_order": 5000}, "mysql": {"shop_order": 5000}},
        "row_counts_after": {"postgres": {"shop_order": 5000}, "mysql": {"shop_order": 5000}},
        "data_unchanged": True,
        "shapes": shapes,
    }


def test_mix_weighs_shapes_by_captured_time() -> None:
    data = _replay({"slowone": (0.75, 2.0), "fastone": (0.20, 0.5)})
    m = mix(data)
    assert m.comparison is not None
    # Weighted geometric mean of 2.0 and 0.5 with weights 0.75 and 0.20 (ratios of medians, jittered 5%).
    expected = math.exp((0.75 * math.log(2.0) + 0.20 * math.log(0.5)) / 0.95)
    assert m.comparison.ratio == pytest.approx(expected, rel=0.05)
    assert m.comparison.low < m.comparison.ratio < m.comparison.high
    assert m.covered == pytest.approx(0.95)
    assert m.drivers[0][0] == "slowone" and m.drivers[0][1] > 0 > m.drivers[1][1]
    assert m.comparison.label.value == "slower"


def test_report_verdict_uses_the_replayed_mix(tmp_path: Path) -> None:
    from dbbench.report.build import build_report

    replay = write_result(tmp_path / "replay.json", "replay", _replay({"slowone": (0.9, 3.0), "fastone": (0.05, 0.9)}))
    md, _ = build_report([FIXTURES / "results_small.json", replay], tmp_path / "report")
    text = md.read_text()
    assert "## Your queries, replayed" in text
    verdict = text.split("## Verdict", 1)[1].split("\n## ", 1)[0]
    assert "Stay on" in verdict and "shape slowone" in verdict  # the team's own slow query decides, not the quiz mix
    assert "your own queries as captured and replayed" in text
    assert "`rawpg` at `?`: raw PostgreSQL SQL: not replayable (audit: @\\> containment)" in text


def test_errors_lose_the_values_the_server_quoted() -> None:
    from dbbench.replay.run import redact

    pg = 'duplicate key value violates unique constraint "t_slug_key" DETAIL: Key (slug)=(red) already exists.'
    assert redact(pg).endswith("Key (slug)=(...) already exists.")
    assert (
        redact("(1062, \"Duplicate entry 'alice' for key 'u_key'\")")
        == "(1062, \"Duplicate entry '...' for key 'u_key'\")"
    )
    assert "abc" not in redact("(1366, \"Incorrect integer value: 'abc' for column 'n' at row 1\")")


def test_a_replay_alone_gets_a_verdict_about_its_shapes(tmp_path: Path) -> None:
    """``dbbench run --app --from`` skips the quiz benchmarks: the replay's two servers are the backends compared,
    named as they call themselves, and its own control judges the noise."""
    from dbbench.report.build import build_report

    data = _replay({"slowone": (0.9, 3.0), "fastone": (0.05, 0.9)})
    data["servers"] = {
        "postgres": {"vendor": "PostgreSQL", "version": "15.20"},
        "mysql": {"vendor": "MariaDB", "version": "10.11.19"},
    }
    replay = write_result(tmp_path / "replay.json", "replay", data)
    md, _ = build_report([replay], tmp_path / "report")
    text = md.read_text()
    assert text.startswith("# Should this Django app move from PostgreSQL 15.20 to MariaDB 10.11.19?")
    verdict = text.split("## Verdict", 1)[1].split("\n## ", 1)[0]
    assert "Stay on" in verdict and "shape slowone" in verdict
    assert "Control: the baseline measured a second time" in verdict  # the replay's control, not "no control"
    assert "quiz attempts" not in text and "student_recent" not in text  # nothing of the quiz site
    assert "each replayed query shape by its share of the captured database time" in text


def test_a_string_in_lookup_is_explained_as_exact_is() -> None:
    """``name__in=[...]`` compares as ``name=...`` does, under the column's collation: django-taggit's
    ``name IN (...)`` shape answered differently on MariaDB and was left without an explanation."""
    from dbbench.quiz.models import Student
    from dbbench.replay.answers import explaining_probe

    for qs in (Student.objects.filter(name__in=["Ada", "ada"]), Student.objects.filter(name="Ada")):
        assert explaining_probe(qs.query, str(qs.query)) == "str_exact_case"
    assert explaining_probe(Student.objects.filter(pk__gt=3).query, "") is None
