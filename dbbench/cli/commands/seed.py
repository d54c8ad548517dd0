from __future__ import annotations

import argparse
import json

import dbbench.cli.common as common

NAME = "seed"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_targets(p)
    common.add_allow_foreign(p)
    p.add_argument("--attempts", required=True, help="QuizAttempt rows to end with, e.g. 10000, 100k, 1m, 2.5m")
    common.add_seed(p)
    p.add_argument("--checksum", action="store_true", help="also print each quiz table's content checksum")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--reset", action="store_true", help="delete the quiz data first and seed from zero")
    p.add_argument("--batch-rows", type=int, default=50_000, help="attempts per transaction (default 50000)")
    common.add_streams(p)
    p.add_argument(
        "--load-method", choices=["fast", "bulk_create"], help="fast (COPY / LOAD DATA) or bulk_create (default: fast)"
    )


def run(args: argparse.Namespace) -> int:
    """Seed the quiz tables to exactly N attempts of realistic, deterministic data, fast and resumably.

    Adds only what is missing (or removes the excess). The same --seed gives the same data on every backend,
    in one step or several, interrupted (even by kill -9) or not; --checksum prints per-table content checksums
    that prove it. A progress bar on a terminal, plain key=value lines otherwise.
    Example: dbbench seed --backend all --attempts 1m --seed 42
    """
    from dbbench.seed import seeding
    from dbbench.units import parse_count

    attempts = parse_count(args.attempts, what="--attempts")
    seeding.check_seed(args.seed)
    seeding.check_streams(args.streams)
    targets = common.setup_django(args)
    allow = common.allow_foreign(args)
    seeding.preflight(targets, allow_foreign=allow)
    documents = []
    for target in targets:
        result = seeding.seed(
            target,
            attempts,
            seed=args.seed,
            allow_foreign=allow,
            batch_rows=args.batch_rows,
            method=args.load_method,
            reset=args.reset,
            streams=args.streams,
        )
        document = result.as_dict()
        if args.checksum:
            from dbbench.seed.checksum import content_checksums

            document["checksums"] = content_checksums(target)
        documents.append(document)
        if not args.json:
            print(seeding.describe(result, document.get("checksums")), flush=True)
    if args.json:
        print(json.dumps(documents, indent=2))
    return 0
