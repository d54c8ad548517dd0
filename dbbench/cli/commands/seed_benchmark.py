from __future__ import annotations

import argparse
from pathlib import Path

import dbbench.cli.common as common

NAME = "seed-benchmark"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_targets(p)
    p.add_argument("--attempts", default="1m", help="attempts to seed, e.g. 100k or 1m (default 1m)")
    common.add_seed(p)
    p.add_argument("--checksum", action="store_true", help="also report the seeded tables' content checksums")
    p.add_argument("--batch-rows", type=int, default=50_000, help="attempts per transaction (default 50000)")
    common.add_streams(p)
    p.add_argument("--output", help="result file (default: results/seed-benchmark-<time>.json)")
    p.add_argument("--keep-database", action="store_true", help="keep <database>_seedbench for inspection")


def run(args: argparse.Namespace) -> int:
    """Measure the seeder per backend: rows/s, the raw COPY / LOAD DATA rate of the same rows, ratio, peak RSS.

    Seeds N attempts from empty in a scratch database (<database>_seedbench, dropped afterwards) in a fresh
    process, then times one raw fast-path load of the same rows into the same table, loaded the way the seeder
    loads from empty (secondary indexes and foreign keys built and checked afterwards, timed). Target: ratio >= 0.60
    and peak RSS <= 300 MB. Writes a seed-benchmark result file.
    Example: dbbench seed-benchmark --backend all --attempts 1m
    """
    from dbbench.seed import benchmark, seeding
    from dbbench.units import parse_count

    attempts = parse_count(args.attempts, what="--attempts")
    seeding.check_seed(args.seed)
    seeding.check_streams(args.streams)
    data = benchmark.run_seed_benchmark(
        common.chosen(args),
        attempts,
        seed=args.seed,
        checksum=args.checksum,
        batch_rows=args.batch_rows,
        streams=args.streams,
        keep_database=args.keep_database,
    )
    path = benchmark.write(data, Path(args.output) if args.output else None)
    print(benchmark.render(data))
    print(f"wrote {path}")
    return 0
