"""Options and helpers shared by several commands, defined once (as asv's ``commands/common_args.py``).

Each command adds only the shared options that apply to it: ``--target`` where it talks to a database,
``--allow-foreign-database`` where it writes to one.
"""

from __future__ import annotations

import argparse

from dbbench.backends.targets import Target, parse_target_list, select_targets, targets_from_env
from dbbench.bench.runner import PROFILES
from dbbench.errors import ConfigError
from dbbench.seed import DEFAULT_SEED, STREAMS
from dbbench.servers.profile import Profile


def add_targets(p: argparse.ArgumentParser, *, backend: bool = True) -> None:
    """``--target NAME=URL`` (repeatable) and, unless ``backend`` is False, ``--backend`` to choose among them."""
    p.add_argument(
        "--target",
        action="append",
        metavar="NAME=URL",
        help="a database target (repeatable); default: DBBENCH_TARGETS, or DBBENCH_POSTGRES_URL and DBBENCH_MYSQL_URL, "
        "else dbbench's managed servers (see dbbench servers)",
    )
    if backend:
        p.add_argument("--backend", default="all", help="target name, comma-separated names, or all (default)")


def add_allow_foreign(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-foreign-database",
        action="store_true",
        help="let dbbench write to a database that holds tables it did not create (it is refused otherwise)",
    )


def add_seed(p: argparse.ArgumentParser, what: str = "the generated data") -> None:
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of {what} (default {DEFAULT_SEED})")


def add_streams(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--streams",
        type=int,
        default=STREAMS,
        help=f"connections loading attempts at once while the foreign keys are dropped (default {STREAMS})",
    )


def add_server_limits(p: argparse.ArgumentParser) -> None:
    """``--server-cpus`` / ``--server-memory``: the managed servers as a small production box (no target given)."""
    p.add_argument(
        "--server-cpus", metavar="N", help="managed servers only: pin each to N CPUs (the app and Locust get the rest)"
    )
    p.add_argument(
        "--server-memory", metavar="SIZE", help="managed servers only: each limited to SIZE, e.g. 512M (buffers 1/4)"
    )


def add_profile(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--profile", choices=list(PROFILES), default="default", help=help)


def configured(args: argparse.Namespace) -> list[Target]:
    """Every configured target: ``--target`` options, else the environment, else dbbench's managed servers."""
    given = getattr(args, "target", None)
    if given:
        if getattr(args, "server_cpus", None) or getattr(args, "server_memory", None) or getattr(args, "box", None):
            raise ConfigError(
                "--server-cpus, --server-memory and --box limit dbbench's managed servers, not --target ones"
            )
        return parse_target_list(",".join(given))
    from dbbench import servers

    # No target anywhere: dbbench's own servers, set up alike (started for this command if they are not running).
    if not servers.wanted():
        if getattr(args, "server_cpus", None) or getattr(args, "server_memory", None) or getattr(args, "box", None):
            raise ConfigError(
                "--server-cpus, --server-memory and --box limit dbbench's managed servers: the targets come from "
                "the environment"
            )
        return targets_from_env()
    return servers.session_targets(_server_profile(args))


def add_box(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--box",
        metavar="CPUS,SIZE",
        help="managed servers only: the app server and the database server under test in one limit together, "
        "e.g. 1,512M (a small droplet); Locust stays outside. Buffers a quarter of it unless --server-memory",
    )


def check_box(args: argparse.Namespace, workers: int) -> None:
    """A --box too small for a managed server's buffers and ``workers`` app workers is refused before the servers
    start (one line)."""
    if not getattr(args, "box", None):
        return
    from dbbench.servers.box import buffers_for, check_fits, parse_box

    box = parse_box(args.box)
    memory = getattr(args, "server_memory", None)
    check_fits(box, Profile.from_text(memory).memory_bytes if memory else buffers_for(box), workers)


def _server_profile(args: argparse.Namespace) -> Profile | None:
    cpus, memory = getattr(args, "server_cpus", None), getattr(args, "server_memory", None)
    box = getattr(args, "box", None)
    if box and not memory:  # the servers' buffers must fit the box: a quarter of it, as --server-memory would
        from dataclasses import replace

        from dbbench.servers.box import buffers_for, parse_box

        return replace(Profile.from_text(None, cpus), memory_bytes=buffers_for(parse_box(box)))
    return Profile.from_text(memory, cpus) if cpus or memory else None


def chosen(args: argparse.Namespace) -> list[Target]:
    """The targets for this invocation: the configured ones, filtered by ``--backend``."""
    return select_targets(configured(args), getattr(args, "backend", None))


def setup_django(args: argparse.Namespace) -> list[Target]:
    """Configure Django with *every* configured target (so aliases resolve), return the chosen ones."""
    from dbbench import djangoenv

    every = configured(args)
    djangoenv.setup(every)
    return select_targets(every, getattr(args, "backend", None))


def allow_foreign(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "allow_foreign_database", False))


def add_keep_sizes(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--keep-sizes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep each seeded size below the largest in a database of its own (<database>_10k, ...), so the next "
        "run measures without seeding (default: on for dbbench's managed servers, off for targets you configure)",
    )


def keep_sizes(args: argparse.Namespace) -> bool:
    """``--keep-sizes``, else whether the targets are dbbench's managed servers (their data is dbbench's to keep)."""
    if args.keep_sizes is not None:
        return bool(args.keep_sizes)
    if getattr(args, "target", None):
        return False
    from dbbench import servers

    return servers.wanted()
