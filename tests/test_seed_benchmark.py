"""``dbbench seed-benchmark`` end to end on the live servers, at a size that takes seconds: the seeder and each
raw way load every row, the ratio is the seeder's rate over the fastest way's, and the scratch database goes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbbench.backends.database import is_owned
from dbbench.seed.benchmark import scratch_target
from tests.helpers import TARGETS, run_cli

ATTEMPTS = 4_000


@pytest.mark.slow
def test_the_seeder_and_every_raw_way_load_all_rows(tmp_path: Path) -> None:
    output = tmp_path / "seed-benchmark.json"
    targets = ",".join(f"{t.name}={t.url}" for t in TARGETS)
    proc = run_cli(
        "seed-benchmark",
        f"--attempts={ATTEMPTS}",
        "--batch-rows=1000",
        "--streams=2",
        "--checksum",
        f"--output={output}",
        env={"DBBENCH_TARGETS": targets},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(output.read_text())["data"]
    assert (data["attempts"], data["streams"]) == (ATTEMPTS, 2)
    checksums = set()
    for measured in data["targets"]:
        seeded, raw = measured["seed"], measured["raw"]
        assert (seeded["attempts"], seeded["added"], seeded["streams"]) == (ATTEMPTS, ATTEMPTS, 2)
        ways = raw["ways"]
        assert set(ways) == {"single", "batched", "streams"}
        assert [ways[w]["streams"] for w in ("single", "batched", "streams")] == [1, 1, 2]
        assert [ways[w]["statements"] for w in ("single", "batched", "streams")] == [1, 4, 8]
        assert all(way["rows"] == ATTEMPTS and way["rebuilt"] >= 4 for way in ways.values())
        assert raw["rows_per_s"] == max(way["rows_per_s"] for way in ways.values())
        assert measured["ratio"] == pytest.approx(seeded["rows_per_s"] / raw["rows_per_s"], abs=1e-3)
        checksums.add(json.dumps(seeded["checksums"], sort_keys=True))
        assert "in 2 streams" in proc.stdout
    assert len(checksums) == 1  # the same rows on every backend
    for target in TARGETS:
        assert not is_owned(scratch_target(target)), "the scratch database was left behind"
