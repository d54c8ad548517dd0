"""scripts/measure_cost.py's arithmetic: the order of the runs and the cost with its interval (the runs themselves
are `dbbench load`'s, tested in test_load.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.nodb

_spec = importlib.util.spec_from_file_location("measure_cost", ROOT / "scripts" / "measure_cost.py")
assert _spec and _spec.loader
measure_cost = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(measure_cost)


def _run(measure: str, rps: float, seconds: float = 20.0) -> dict[str, Any]:
    return {"measure": measure, "rps": rps, "requests": round(rps * seconds), "seconds": seconds}


def test_each_mode_goes_first_as_often_as_the_other() -> None:
    assert measure_cost.order(1) == ["on", "off"]
    assert measure_cost.order(2) == ["on", "off", "off", "on"]
    assert measure_cost.order(4).count("on") == 4 and measure_cost.order(4)[::2].count("on") == 2


def test_the_cost_and_its_interval() -> None:
    # One run each: 1% fewer requests/s with the measuring on; the interval is the request counts' alone.
    found = measure_cost.cost([_run("on", 297.0), _run("off", 300.0)])
    assert found["cost_percent"] == pytest.approx(1.0)
    counted = 100 * 1.96 * ((297 * 20) ** 0.5 / 20 + 0) / 300
    assert counted / 2 < found["margin_percent"] < counted * 1.5
    # Runs that disagree with each other (a busy machine) widen it past what the counts say.
    steady = measure_cost.cost([_run(m, r) for m, r in (("on", 297), ("off", 300), ("off", 300), ("on", 297))])
    noisy = measure_cost.cost([_run(m, r) for m, r in (("on", 250), ("off", 300), ("off", 260), ("on", 320))])
    assert steady["margin_percent"] < 3 < 20 < noisy["margin_percent"]
    assert noisy["on"] == pytest.approx(285.0) and noisy["off"] == pytest.approx(280.0)


def test_the_knee_is_read_from_a_load_result(tmp_path: Path) -> None:
    path = tmp_path / "load.json"
    runs = [{"variant": "postgres-cma0", "knee": {"users": 93}}, {"variant": "postgres-cma60", "knee": {"users": 400}}]
    path.write_text(json.dumps({"kind": "load", "data": {"runs": runs}}))
    assert measure_cost.knee_users(path, "postgres-cma60") == 400
    with pytest.raises(SystemExit, match="no knee for mysql-cma60"):
        measure_cost.knee_users(path, "mysql-cma60")
