"""The verdict rules on hand-made evidence, and the operation mix option."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dbbench.errors import ConfigError
from dbbench.report.verdict import (
    DEFAULT_MIX,
    Decision,
    Evidence,
    LoadEvidence,
    OpEvidence,
    Portability,
    decide,
    parse_mix,
    resolve_mix,
)
from dbbench.stats import Comparison, compare

pytestmark = pytest.mark.nodb  # runs on a machine without database servers

AGREE = Portability(40, 0, [])
_BASE = np.random.default_rng(0).lognormal(0.0, 0.2, 400)


def _ratio(factor: float, seed: int, n: int = 400) -> Comparison:
    """A comparison whose candidate takes ``factor`` times the baseline's time."""
    return compare(_BASE[:n], np.random.default_rng(seed).lognormal(math.log(factor), 0.2, n))


def _evidence(
    factors: dict[str, float],
    *,
    mix: dict[str, float] | None = None,
    portability: Portability | None = AGREE,
    fairness: list[str] | None = None,
    load: LoadEvidence | None = None,
    n: int = 400,
) -> Evidence:
    ops = [OpEvidence(op, 100_000, _ratio(f, seed=i + 1, n=n), f"op-{op}") for i, (op, f) in enumerate(factors.items())]
    return Evidence(
        baseline="PostgreSQL 15.18",
        baseline_vendor="PostgreSQL",
        candidate="MariaDB 10.11.19",
        candidate_vendor="MariaDB",
        operations=ops,
        mix=mix or dict.fromkeys(factors, 1.0),
        fairness=fairness or [],
        portability=portability,
        load=load,
    )


def _check_reasons(verdict_reasons: list) -> None:  # type: ignore[type-arg]
    assert 3 <= len(verdict_reasons) <= 5
    assert all(r.anchor and r.text for r in verdict_reasons)


def test_slower_everywhere_means_stay() -> None:
    v = decide(_evidence({"pk_lookup": 2.0, "student_recent": 2.0, "leaderboard": 2.0}))
    assert v.decision is Decision.STAY
    assert v.headline == "Stay on PostgreSQL"
    assert v.mix.ratio == pytest.approx(2.0, rel=0.1)
    _check_reasons(v.reasons)
    assert v.reasons[0].anchor == "mix" and "slower" in v.reasons[0].text
    assert any(r.anchor == "op-pk_lookup" for r in v.reasons)


def test_equal_speed_and_nothing_breaks_means_migrating_is_reasonable() -> None:
    v = decide(_evidence({"pk_lookup": 1.0, "student_recent": 1.0, "leaderboard": 1.0}))
    assert v.decision is Decision.MIGRATE
    assert v.headline == "Migrating to MariaDB 10.11.19 is reasonable"
    _check_reasons(v.reasons)
    assert any("all 40 checked behaviours agree" in r.text for r in v.reasons)


def test_equal_speed_but_behaviour_differs_means_stay() -> None:
    port = Portability(40, 3, ["json contains", "collation", "null ordering"])
    v = decide(_evidence({"pk_lookup": 1.0, "student_recent": 1.0}, portability=port))
    assert v.decision is Decision.STAY
    assert any("3 of 40" in r.text and r.anchor == "portability" for r in v.reasons)


def test_faster_but_behaviour_differs_means_it_depends() -> None:
    v = decide(_evidence({"pk_lookup": 0.5, "student_recent": 0.5}, portability=Portability(40, 2, ["x"])))
    assert v.decision is Decision.DEPENDS
    assert "fixing the 2 behaviour difference(s)" in v.headline


def test_faster_and_nothing_breaks_means_migrating_is_reasonable() -> None:
    v = decide(_evidence({"pk_lookup": 0.5, "student_recent": 0.6}))
    assert v.decision is Decision.MIGRATE
    assert "faster" in v.reasons[0].text


def test_a_frequent_operation_much_slower_makes_it_depend() -> None:
    # The mix comes out even (0.2*ln 2 + 0.8*ln 0.85 ~ 0), but a fifth of the traffic is twice as slow.
    v = decide(_evidence({"student_recent": 2.0, "pk_lookup": 0.85}, mix={"student_recent": 20, "pk_lookup": 80}))
    assert v.decision is Decision.DEPENDS
    assert "`student_recent`" in v.headline
    assert v.reasons[1].anchor == "op-student_recent"


def test_a_rare_operation_much_slower_does_not_decide() -> None:
    mix = {"student_recent": 97, "json_filter": 3}
    v = decide(_evidence({"student_recent": 1.0, "json_filter": 10.0}, mix=mix))
    # 3% of the traffic at 10x moves the mix by 7%: slower overall, but json_filter alone is not a "hot spot".
    assert "json_filter" not in v.headline


def test_missing_portability_check_makes_it_depend() -> None:
    v = decide(_evidence({"pk_lookup": 1.0, "student_recent": 1.0}, portability=None))
    assert v.decision is Decision.DEPENDS
    assert "portability check" in v.headline
    assert any("not checked" in r.text for r in v.reasons)


def test_unfair_settings_soften_a_stay() -> None:
    v = decide(_evidence({"pk_lookup": 2.0}, fairness=["unequal durability: a waits for the disk, b does not"]))
    assert v.decision is Decision.DEPENDS
    assert "equal server settings" in v.headline
    assert any(r.anchor == "fairness" for r in v.reasons)


def test_too_few_samples_ask_for_a_longer_measurement() -> None:
    v = decide(_evidence({"pk_lookup": 1.0, "student_recent": 1.0}, n=3))
    assert v.decision is Decision.DEPENDS
    assert "longer measurement" in v.headline


def test_worse_under_load_makes_it_depend() -> None:
    load = LoadEvidence(users=50, p95_ratio=1.6, throughput_ratio=0.6)
    v = decide(_evidence({"pk_lookup": 1.0, "student_recent": 1.0}, load=load))
    assert v.decision is Decision.DEPENDS
    assert "50 concurrent users" in v.headline
    assert any(r.anchor == "load" and "0.60x" in r.text for r in v.reasons)
    knee = LoadEvidence(400, 1.0, 1.0, knee_baseline=400, knee_candidate=250, knees_reached=True)
    v = decide(_evidence({"pk_lookup": 1.0, "student_recent": 1.0}, load=knee))
    assert "whether you need more than 250 concurrent users on one server" in v.headline
    assert any("more than 250 concurrent users" in c and "holds up to 400" in c for c in v.changes)


def test_load_rules() -> None:
    assert not LoadEvidence(100, p95_ratio=1.2, throughput_ratio=0.95).worse  # within Locust's rounding
    # 30 ms against 16 ms, both far under the 1 s limit: shown, not a reason.
    assert not LoadEvidence(300, p95_ratio=1.88, throughput_ratio=1.0).worse
    assert LoadEvidence(100, p95_ratio=1.0, throughput_ratio=0.9).worse
    lower_knee = LoadEvidence(300, 1.0, 1.0, knee_baseline=200, knee_candidate=100, knees_reached=True)
    assert lower_knee.worse
    assert not LoadEvidence(300, 1.0, 1.0, knee_baseline=200, knee_candidate=100, knees_reached=False).worse
    fine = LoadEvidence(300, 1.0, 1.0)
    assert decide(_evidence({"pk_lookup": 1.0, "student_recent": 1.0}, load=fine)).decision is Decision.MIGRATE


def test_operations_outside_the_mix_weigh_nothing() -> None:
    v = decide(_evidence({"pk_lookup": 1.0, "bulk_insert": 5.0}, mix={"pk_lookup": 1, "bulk_insert": 0}))
    assert v.mix.ratio == pytest.approx(1.0, rel=0.05)
    with pytest.raises(ConfigError):
        decide(_evidence({"pk_lookup": 1.0}, mix={"pk_lookup": 0}))


# --- the mix --------------------------------------------------------------------------------------------------


def test_parse_mix_inline_and_files(tmp_path: Path) -> None:
    assert parse_mix(None) is None
    assert parse_mix("pk_lookup=5, student_recent=2.5") == {"pk_lookup": 5.0, "student_recent": 2.5}
    (tmp_path / "mix.json").write_text('{"pk_lookup": 3, "leaderboard": 1}')
    assert parse_mix(tmp_path / "mix.json") == {"pk_lookup": 3.0, "leaderboard": 1.0}
    (tmp_path / "mix.yaml").write_text("pk_lookup: 1\nleaderboard: 0\n")
    assert parse_mix(str(tmp_path / "mix.yaml")) == {"pk_lookup": 1.0, "leaderboard": 0.0}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("pk_lookup", "expected operation=weight"),
        ("pk_lookup=x", "is not a number"),
        ("pk_lookup=-1", ">= 0"),
        ("pk_lookup=0", "positive weight"),
        ("missing.json", "does not exist"),
    ],
)
def test_parse_mix_refuses_bad_input(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_mix(value)


def test_parse_mix_refuses_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "mix.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="mapping"):
        parse_mix(tmp_path / "mix.json")
    (tmp_path / "bad.yaml").write_text("a: [")
    with pytest.raises(ConfigError, match="cannot parse"):
        parse_mix(tmp_path / "bad.yaml")


def test_resolve_mix() -> None:
    weights, notes = resolve_mix(None, ["pk_lookup", "brand_new_op"])
    assert weights == {"pk_lookup": DEFAULT_MIX["pk_lookup"], "brand_new_op": 0.0}
    assert any("brand_new_op" in n for n in notes)
    weights, notes = resolve_mix(None, ["only_new"])
    assert weights == {"only_new": 1.0} and notes
    assert resolve_mix({"pk_lookup": 2}, ["pk_lookup", "leaderboard"])[0] == {"pk_lookup": 2.0, "leaderboard": 0.0}
    with pytest.raises(ConfigError, match="not in the results: typo_op"):
        resolve_mix({"typo_op": 1}, ["pk_lookup"])


# --- issue: a verdict that decides -------------------------------------------------------------------------------


def test_only_the_differences_the_code_uses_count() -> None:
    unused = Portability(120, 39, ["`a`", "`b`"], used=0)
    v = decide(_evidence({"pk_lookup": 1.0, "student_recent": 1.0}, portability=unused))
    assert v.decision is Decision.MIGRATE
    assert any("your code uses 0 of them" in r.text for r in v.reasons)
    used = Portability(120, 39, ["`a`", "`b`"], used=1, used_examples=["`unique_case`"])
    v = decide(_evidence({"pk_lookup": 0.5, "student_recent": 0.5}, portability=used))
    assert v.decision is Decision.DEPENDS
    assert "fixing the 1 behaviour difference(s) your code uses" in v.headline
    assert any("`unique_case`" in c for c in v.changes)


def test_measurement_is_named_only_when_the_control_failed() -> None:
    fine = decide(_evidence({"pk_lookup": 1.0, "student_recent": 1.0}))
    assert "quiet machine" not in fine.headline and "measurement" not in fine.headline
    disturbed = Evidence(**{**_evidence({"pk_lookup": 1.0}).__dict__, "noise": "the machine was disturbed"})
    assert "a re-run on a quiet machine" in decide(disturbed).headline


def test_a_crashed_run_gives_no_mix_verdict() -> None:
    crashed = _evidence({"pk_lookup": 1.0, "bulk_insert": 1.0}, mix=DEFAULT_MIX)
    crashed = Evidence(**{**crashed.__dict__, "missing": [op for op in DEFAULT_MIX if op not in ("pk_lookup",)]})
    v = decide(crashed)
    assert v.decision is Decision.NONE and v.mix is None
    assert "were not measured" in v.headline and "`student_recent`" in v.headline
    # One rare operation missing (1% of the mix) still decides.
    small = Evidence(**{**_evidence({"pk_lookup": 1.0, "student_recent": 1.0}).__dict__, "missing": ["bulk_insert"]})
    assert decide(small).decision is not Decision.NONE


def test_what_would_change_it_solves_for_the_share_of_json_queries() -> None:
    # JSON queries 5x slower at 2% of the mix, everything else equal: the mix stays within 5% until JSON queries
    # take s of the time, where s * ln 5 = ln 1.05, so s = 3.0%.
    factors = {"pk_lookup": 1.0, "json_filter": 5.0}
    v = decide(_evidence(factors, mix={"pk_lookup": 98, "json_filter": 2}, n=2000))
    (change,) = [c for c in v.changes if "JSON key queries" in c]
    assert "more than 3% of your database time" in change and "slower" in change


def test_equivalent_does_not_claim_the_difference_is_under_the_threshold() -> None:
    """An "equivalent" label means the interval excludes 1 and reaches into the practical band: 0.66x (0.53-0.98) is so
    labelled, and once read "equivalent (within 5%)" in the report, which it is not."""
    from dbbench.report.verdict import _label_text
    from dbbench.stats import Label, classify

    assert classify(0.66, 0.53, 0.98, 0.05) is Label.EQUIVALENT
    text = _label_text(Label.EQUIVALENT, 0.05)
    assert "within" not in text and "5%" in text
