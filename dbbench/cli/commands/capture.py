from __future__ import annotations

import argparse
from pathlib import Path

from dbbench.capture import hook

NAME = "capture"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--app", metavar="PATH", help="your Django project's folder (default: dbbench's quiz site)")
    p.add_argument("--settings", help="the project's settings module (default: found as dbbench app finds it)")
    p.add_argument("--output", required=True, help="capture file to write (mode 0600)")
    p.add_argument(
        "--keep", type=int, default=hook.KEEP_FIRST, help=f"instances kept per query shape (default {hook.KEEP_FIRST})"
    )
    p.add_argument("--no-params", action="store_true", help="keep no parameter values (shapes, counts and times only)")
    p.add_argument("--max-seconds", type=float, default=0, help="stop recording after this many seconds")
    p.add_argument(
        "--from-dir", metavar="DIR", help="merge the part files a staging deployment's middleware wrote into DIR"
    )
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run (python manage.py runserver ...)")


def run(args: argparse.Namespace) -> int:
    """Record the queries your Django app sends while a command runs, for dbbench replay.

    Runs COMMAND (after --) with a recorder in its Django processes: per query shape (one SQL text) the count
    and time of every statement, and a sample of instances (the pickled ORM query and its model, the SQL and
    parameters as sent, the time, the call site in your code); raw SQL as text with its parameters. The file is
    written mode 0600; --no-params leaves parameter values out, and dbbench never prints them. --from-dir
    merges what the staging middleware (dbbench.capture.middleware) wrote instead of running a command.
    Example: dbbench capture --app ~/src/shop --output shop.capture.json -- python manage.py runserver
    """
    from dbbench.capture import capfile, command, render
    from dbbench.errors import ConfigError

    output = Path(args.output)
    if output.is_dir() or not output.parent.is_dir():
        raise ConfigError(f"capture: cannot write {output} (a folder, or its folder does not exist)")
    words = list(args.command)
    if words and words[0] == "--":
        words = words[1:]
    if args.from_dir:
        if words:
            raise ConfigError("capture: give either --from-dir or a command, not both")
        data = command.collect(Path(args.from_dir))
        capfile.write(output, data)
        print(render.summary(data, str(output)))
        return 0
    project, cwd = capfile.QUIZ_PROJECT, None
    if args.app:
        from dbbench.app.detect import detect

        found = detect(args.app, settings=args.settings)
        project, cwd = capfile.project_identity(found.root, found.settings), found.root
    options = command.Options(keep=args.keep, params=not args.no_params, max_seconds=args.max_seconds)
    data, code = command.capture_command(words, output, project=project, cwd=cwd, options=options)
    print(render.summary(data, str(output)))
    return code
