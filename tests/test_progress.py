"""The progress line of long stages: the step and the time left, live on a terminal, plain lines in a log."""

from __future__ import annotations

import io
import re
import time

import pytest

from dbbench.bench.eta import BenchEta
from dbbench.bench.runner import PROFILES
from dbbench.progress import Status

pytestmark = pytest.mark.nodb


def test_a_log_gets_the_first_step_at_once_then_a_line_every_interval() -> None:
    out = io.StringIO()
    with Status("benchmarks", out, interval=0.05, live=False) as status:
        status.update("10k attempts: pk_lookup (orm)", 3, 60, eta_s=120)
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3
    first = re.fullmatch(
        r'progress stage=benchmarks step="10k attempts: pk_lookup \(orm\)" done=3/60 elapsed_s=\d+ eta_s=(\d+)',
        lines[0],
    )
    assert first and int(first[1]) == 120
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_the_time_left_counts_down_between_updates() -> None:
    status = Status("seed", io.StringIO(), live=False)
    status.update("seeding", eta_s=10)
    time.sleep(0.2)
    assert 9.0 < (status.eta() or 0) < 9.9
    status.update("seeding", eta_s=None)
    assert status.eta() is None and "eta_s=?" in status.line()


def test_a_terminal_gets_one_line_redrawn_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # the line is cut to the terminal's width, which depends on who runs it
    out = io.StringIO()
    status = Status("benchmarks", out, live=True)
    status.update("1m attempts: json_filter (orm)", 40, 60, eta_s=95)
    status.stop()
    text = out.getvalue()
    assert text.startswith("\r\x1b[K") and text.endswith("\r\x1b[K") and "\n" not in text
    assert "1m attempts: json_filter (orm) (40/60)" in text and "about 1 min 35 s left" in text


def _eta() -> BenchEta:
    groups = {
        (size, op, variant): ["pg", "my"]
        for size in (10_000, 100_000)
        for op, variant in (("pk_lookup", "orm"), ("json_filter", "orm"))
    }
    return BenchEta(PROFILES["default"], groups, backends=2, seed_rate=10_000)


def test_the_estimate_is_the_profiles_allowance_and_seeding_before_anything_ran() -> None:
    eta = _eta()
    p = PROFILES["default"]
    per_group = 2 * p.warmup_budget_s + max(2 * p.budget_s, p.cap_s)
    seeding = (10_000 + 90_000) * 2 / 10_000
    assert eta.left() == pytest.approx(4 * per_group + seeding)


def test_a_group_costs_what_it_took_at_the_previous_size() -> None:
    eta = _eta()
    eta.seeded[10_000] = 1.0
    eta.took[(10_000, "pk_lookup", "orm")] = 2.0
    eta.took[(10_000, "json_filter", "orm")] = 30.0
    eta.seeded[100_000] = 5.0
    assert eta.left() == pytest.approx(32.0)
    assert eta.done() == 2
    assert BenchEta.step((100_000, "json_filter", "orm")) == "100k attempts: json_filter (orm)"
