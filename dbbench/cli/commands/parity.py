from __future__ import annotations

import argparse
import json
from pathlib import Path

import dbbench.cli.common as common

NAME = "parity"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_targets(p)
    p.add_argument("--output", help="parity result file to write (default: results/parity.json)")
    p.add_argument("--probe", action="append", metavar="NAME", help="run only these probes (repeatable, or a,b,c)")
    p.add_argument("--list", action="store_true", help="list the probes and exit")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    p.add_argument("--differences-only", action="store_true", help="leave probes that came out the same out")
    p.add_argument("--keep-database", action="store_true", help="keep the scratch <database>_parity for inspection")


def run(args: argparse.Namespace) -> int:
    """Run the behaviour parity probes on every backend: same, different or unsupported, compared with the first.

    Probes cover JSONField lookups, string collation, NULL ordering, DISTINCT ON, upserts, row locks, integer
    ranges, time zones and DDL; each records the value (or error) and the SQL Django sent, per backend.

    Runs in a scratch database of dbbench's own (<database>_parity, dropped afterwards); writes a parity result
    file and prints a table with what to change.
    Example: dbbench parity --backend all --output results/parity.json
    """
    from dbbench.parity import suite

    targets = common.setup_django(args)
    if args.list:
        print("\n".join(suite.describe_probes()))
        return 0
    output = suite.output_path(Path(args.output) if args.output else None)
    only = [name.strip() for value in args.probe or [] for name in value.split(",") if name.strip()]
    report = suite.run_probes(targets, only=only or None, keep_database=args.keep_database)
    suite.write_parity(report, output)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        suite.print_report(report, differences_only=args.differences_only)
        print(f"wrote {output}")
    return 0
