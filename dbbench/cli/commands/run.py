from __future__ import annotations

import argparse
from pathlib import Path

from dbbench.cli import common

NAME = "run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_targets(p)
    common.add_allow_foreign(p)
    common.add_profile(p, "data sizes (default)")
    p.add_argument("--output-dir", help="folder for this run's results and report (default: results/run-...)")
    p.add_argument(
        "--skip", metavar="STAGES", help="leave out optional stages: parity, load, rehearsal (comma-separated)"
    )


def run(args: argparse.Namespace) -> int:
    """The whole job: check servers, migrate, seed and benchmark as the data grows, parity, load, rehearsal, report.

    Profiles: quick (a first look in a couple of minutes: 1k and 2k attempts, a handful of rounds), default
    (10k and 100k attempts), full (10k, 100k and 1M). A failed stage stops the run with one line; the results of
    the stages before it stay in the run's folder. --skip parity,load leaves those stages out.
    Example: dbbench run --profile quick
    """
    from dbbench import pipeline

    outcome = pipeline.run(
        args.profile,
        common.chosen(args),
        Path(args.output_dir) if args.output_dir else None,
        allow_foreign=common.allow_foreign(args),
        skip=[s.strip() for s in (args.skip or "").split(",") if s.strip()],
    )
    assert outcome.report is not None
    print(f"done in {outcome.seconds / 60:.1f} min; report: {outcome.report[1]}\n        {outcome.report[0]}")
    return 0
