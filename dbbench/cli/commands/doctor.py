from __future__ import annotations

import argparse
import json

import dbbench.cli.common as common

NAME = "doctor"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_targets(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    """Check each backend: reachable, real vendor and version, settings that decide a fair comparison.

    Example: dbbench doctor --backend all --json
    """
    from dbbench import doctor

    probes = [doctor.probe(t) for t in common.chosen(args)]
    if args.json:
        document = {"targets": [p.as_dict() for p in probes], "warnings": doctor.fairness_warnings(probes)}
        print(json.dumps(document, indent=2))
    else:
        print(doctor.render(probes))
    return 0 if all(p.ok for p in probes) else 1
