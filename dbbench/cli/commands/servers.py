from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dbbench.servers.managed import Servers

NAME = "servers"
ACTIONS = ["start", "stop", "status", "destroy", "exec"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=ACTIONS, help="what to do (exec: run a command with the servers up)")
    # "*", not REMAINDER: options after the action (`start --server-memory 512M`) stay options; exec takes its
    # command after "--" (`exec -- pytest -x`).
    p.add_argument("command", nargs="*", help="for exec: the command to run, after --")
    p.add_argument(
        "--state-dir",
        help="where data directories, sockets and logs live (default: DBBENCH_STATE_DIR, else "
        "$XDG_STATE_HOME/dbbench, or /var/lib/dbbench for root)",
    )
    p.add_argument(
        "--server-memory",
        help="each server's memory, as on a box of that size, e.g. 512M or 2G: a memory limit (cgroup, where the "
        f"machine allows) and a quarter of it for {_buffer_settings()} alike (default: "
        "DBBENCH_SERVER_MEMORY, else no limit and 1G of buffers)",
    )
    p.add_argument(
        "--server-cpus",
        help="each server's CPUs, e.g. 1: pinned to the last N CPUs (the app and the load generator keep the "
        "others) with a quota of N CPUs (default: DBBENCH_SERVER_CPUS, else all CPUs)",
    )


def _buffer_settings() -> str:
    """Each managed server's buffer setting by name (shared_buffers and innodb_buffer_pool_size)."""
    from dbbench.backends.registry import BACKENDS

    return " and ".join(s.buffer_setting for s in BACKENDS.values() if s.managed_description and s.buffer_setting)


def run(args: argparse.Namespace) -> int:
    """dbbench's own PostgreSQL and MariaDB, set up alike: start, stop, status, destroy, or exec a command.

    Commands that need a database use these servers when no target is given (no --target, DBBENCH_TARGETS,
    DBBENCH_POSTGRES_URL or DBBENCH_MYSQL_URL): already running ones are used and left running, otherwise they
    are started for the command and stopped when it ends. `start` keeps them running until `stop`; `exec` runs
    a command with DBBENCH_POSTGRES_URL and DBBENCH_MYSQL_URL pointing at them; `destroy` deletes their data.
    `start` and `exec` restart running servers whose memory or CPU settings differ from the ones they are given.
    Example: dbbench servers start --server-cpus 1 --server-memory 512M   (each server a small production box)
    """
    from dbbench.errors import ConfigError
    from dbbench.servers.managed import Servers
    from dbbench.servers.profile import Profile

    if args.state_dir:
        os.environ["DBBENCH_STATE_DIR"] = args.state_dir  # for the commands exec runs, and for doctor's lookups
    servers = Servers(args.state_dir, Profile.from_text(args.server_memory, args.server_cpus))
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if command and args.action != "exec":
        raise ConfigError(f"unexpected arguments after {args.action}: {' '.join(command)}")
    if args.action == "exec":
        return _exec(servers, command)
    if args.action == "start":
        targets = servers.acquire(persistent=True, reconfigure=True)
        if servers.restarted:
            print(f"restarted {', '.join(servers.restarted)}: they ran with other memory or CPU settings")
        limits = {row.engine.name: row.limits for row in servers.status()[0]}
        for target in targets:
            print(f"{target.name}: running at {target.safe_url}; limits (set by dbbench): {limits[target.name]}")
        print(f"settings: {servers.profile.describe()}")
        return 0
    if args.action in ("stop", "destroy"):
        users = servers.stop() if args.action == "stop" else servers.destroy()
        if users:
            pids = ", ".join(map(str, users))
            done = {"stop": "stopped", "destroy": "destroyed"}[args.action]
            print(f"in use by dbbench process {pids}: left running until it ends; nothing {done}")
            return 1
        print(f"{args.action}: done ({servers.sd.path})")
        return 0
    return _status(servers)


def _status(servers: Servers) -> int:
    rows, state = servers.status()
    print(f"state directory: {servers.sd.path}")
    targets = {t.name: t for t in servers.running_targets()} if any(r.running for r in rows) else {}
    for row in rows:
        if not row.running:
            print(f"{row.engine.name}: {row.engine.label}: stopped (data: {row.data})")
            continue
        memory = f"{(row.memory_bytes or 0) // 2**20} MiB buffers"
        url = targets[row.engine.name].safe_url
        print(f"{row.engine.name}: {row.engine.label}: running, pid {row.pid}, {url}, {memory} (data: {row.data})")
        print(f"  limits (set by dbbench): {row.limits}")
    if state.get("persistent"):
        print("kept running by `dbbench servers start` until `dbbench servers stop`")
    elif state.get("users"):
        pids = [u if isinstance(u, int) else u[0] for u in state["users"]]
        print(f"used by dbbench process {', '.join(map(str, pids))}; stopped when the last one ends")
    elif any(r.running for r in rows):
        print("left behind by a dbbench process that was killed; the next dbbench command stops them")
    return 0 if all(r.running for r in rows) else 3


def _exec(servers: Servers, command: list[str]) -> int:
    from dbbench import processes
    from dbbench.errors import ConfigError
    from dbbench.servers.session import managed

    if not command:
        raise ConfigError("exec needs a command, e.g. dbbench servers exec -- pytest tests")
    with processes.interrupts_unwind(), managed(str(servers.sd.path), servers.profile, reconfigure=True) as targets:
        env = {k: v for k, v in os.environ.items() if k != "DBBENCH_TARGETS"}
        env.update({f"DBBENCH_{t.name.upper()}_URL": t.url for t in targets})
        try:
            return processes.foreground(command, env=env)
        except FileNotFoundError:
            raise ConfigError(f"exec: command not found: {command[0]}") from None
        finally:
            sys.stdout.flush()
