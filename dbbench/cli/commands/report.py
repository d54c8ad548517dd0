from __future__ import annotations

import argparse
from pathlib import Path

NAME = "report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", nargs="+", metavar="RESULTS", help="result files (JSON) written by dbbench")
    p.add_argument("--output-dir", help="where to write report.md/report.html (default: next to the first file)")
    p.add_argument("--mix", help="operation weights: op=weight,op=weight or a JSON/YAML file (default: quiz site)")
    p.add_argument(
        "--threshold", type=float, default=5.0, help="practical threshold in percent: smaller is 'equivalent' (5)"
    )


def run(args: argparse.Namespace) -> int:
    """Write the migration decision report (report.md + self-contained report.html) from result files.

    Reads result files only, never a database: benchmark JSON, parity, load, seed-benchmark, rehearsal, audit.
    Example: dbbench report results/run-20250101-120000-default/*.json --mix pk_lookup=5,student_recent=3
    """
    from dbbench.report.build import build_report
    from dbbench.report.verdict import parse_mix

    out = Path(args.output_dir) if args.output_dir else Path(args.results[0]).parent
    md, html = build_report(args.results, out, parse_mix(args.mix), threshold=args.threshold / 100)
    print(f"report: {html}\n        {md}")
    return 0
