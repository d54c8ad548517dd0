from __future__ import annotations

import argparse

import dbbench.cli.common as common

NAME = "setup"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_targets(p)
    common.add_allow_foreign(p)


def run(args: argparse.Namespace) -> int:
    """Create dbbench's own database on each backend (marked as dbbench's) and apply the migrations.

    Example: dbbench setup --backend all
    """
    from dbbench import djangoenv

    for target in common.setup_django(args):
        djangoenv.prepare(target, allow_foreign=common.allow_foreign(args))
        print(f"{target.name}: database {target.database!r} ready (migrations applied) at {target.safe_url}")
    return 0
