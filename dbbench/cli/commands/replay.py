from __future__ import annotations

import argparse
import json
from pathlib import Path

import dbbench.cli.common as common
from dbbench.capture.hook import KEEP_FIRST

NAME = "replay"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("capture", metavar="FILE", help="a capture file written by dbbench capture or dbbench app --capture")
    p.add_argument("--app", metavar="PATH", help="the captured Django project (default: dbbench's quiz site)")
    p.add_argument("--settings", help="the project's settings module (default: found as dbbench app finds it)")
    common.add_targets(p)
    p.add_argument(
        "--instances",
        type=int,
        default=KEEP_FIRST,
        help=f"captured instances replayed per shape (default {KEEP_FIRST})",
    )
    p.add_argument("--shapes", type=int, default=40, help="shapes replayed, by captured time (default 40)")
    p.add_argument("--seconds", type=float, default=2.0, help="measuring time per shape, all targets (default 2)")
    p.add_argument("--no-control", action="store_true", help="do not measure the baseline a second time")
    p.add_argument("--output", help="replay result file to write (default: results/replay.json)")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of text")


def run(args: argparse.Namespace) -> int:
    """Replay captured queries on two targets that hold the same data: same answers, and your own mix.

    For each query shape of the capture (by captured time), up to --instances instances: ORM queries rebuilt
    for each target's connection, raw SQL as written; reads compared between the targets (row count and a
    digest, order kept only where the query orders), writes inside a transaction that is rolled back; then
    interleaved rounds as the benchmark suite measures, with the baseline measured twice as the control. Says
    per shape its share of the captured time, the ratio with its interval and label, and your mix: the ratios
    weighted by captured time. Give exactly two targets (baseline first) holding the same data; with --app and
    no --target, the project's database and the complete copy dbbench migrate-data --app made of it are used
    when that copy exists.
    Example: dbbench replay shop.capture.json --app ~/src/shop --backend postgres,mysql
    """
    from dbbench import results
    from dbbench.errors import ConfigError
    from dbbench.replay import launch, render
    from dbbench.replay.run import Options

    output = results.output_path(Path(args.output) if args.output else None, "replay.json")
    if args.instances < 1 or args.shapes < 1 or args.seconds <= 0:
        raise ConfigError("replay: --instances and --shapes must be at least 1, --seconds positive")
    project = None
    if args.app:
        from dbbench.app.detect import detect

        project = detect(args.app, settings=args.settings)
    options = Options(instances=args.instances, shapes=args.shapes, cap_s=args.seconds)
    targets = common.chosen(args)
    if project is not None and not args.target:
        # No targets named: the project's database and the copy `dbbench migrate-data --app` made of it, if any.
        pair = launch.rehearsal_pair(targets)
        if pair is not None:
            targets = pair
            print(f"replaying on the rehearsal pair: {pair[0].name} and its copy {pair[1].name}")
    data = launch.replay(Path(args.capture), targets, project=project, options=options, control=not args.no_control)
    results.write_result(output, "replay", data)
    print(json.dumps(data, indent=2, default=str) if args.json else render.render_text(data))
    print(f"wrote {output}")
    return 0 if data["data_unchanged"] else 1
