from __future__ import annotations

import argparse

import dbbench.cli.common as common

NAME = "bench"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_targets(p)
    common.add_allow_foreign(p)
    common.add_profile(p, "rounds and sizes")
    p.add_argument("--sizes", help="attempt counts, smallest first, e.g. 10k,100k,1m (default: the profile's)")
    common.add_seed(p, "the generated data and the arguments")
    common.add_keep_sizes(p)
    p.add_argument("--output-dir", help="folder for the JSON (default: results/benchmarks)")


def run(args: argparse.Namespace) -> int:
    """Benchmark the quiz app's operations on every backend as the data grows (pytest-benchmark JSON).

    Seeds each backend to each size (smallest first), then measures the twelve operations (ORM, plus raw SQL for
    the writes and key reads) with the backends' rounds interleaved. Profiles: quick (1k, 2k; a few rounds: proves it
    works), default (10k, 100k), full (10k, 100k, 1M). --sizes overrides the profile's sizes.
    Example: dbbench bench --sizes 10k,100k --profile default
    """
    from dbbench.bench.runner import run_benchmarks, run_summary
    from dbbench.units import parse_counts

    sizes = parse_counts(args.sizes) if args.sizes else None
    path = run_benchmarks(
        common.chosen(args),
        sizes,
        args.profile,
        args.output_dir,
        seed=args.seed,
        allow_foreign=common.allow_foreign(args),
        keep_sizes=common.keep_sizes(args),
    )
    summary = run_summary(path)
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    print(f"benchmarks: {path} ({summary['benchmarks']} benchmarks in {summary['wall_seconds']:.0f} s)")
    return 0
