"""Locust for one step of a load test: one process, or a master and workers; its figures."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from dbbench import processes
from dbbench.load import stats as loadstats
from dbbench.load.config import LoadConfig
from dbbench.load.site import BackendFailed, connect_host

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
LOCUST_GRACE_S = 60.0  # Locust's own start-up and shutdown on top of the run time (busy box, distributed)


def locust_env() -> dict[str, str]:
    """Locust needs no database credentials: leave them out of its environment."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("DBBENCH_", "DJANGO_"))}


def locust_argv(
    url: str, users: int, config: LoadConfig, student_ids: str, output: Path, *, master_port: int | None
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "locust",
        f"--locustfile={LOCUSTFILE}",
        "--headless",
        f"--host={url}",
        f"--users={users}",
        f"--spawn-rate={config.spawn_rate:g}",
        f"--run-time={config.step_run_time(users)}s",
        "--only-summary",
        "--loglevel=WARNING",
        "--exit-code-on-error=0",  # failed requests are figures, not a failed run
        "--stop-timeout=0",
        f"--dbbench-students={student_ids}",
        f"--dbbench-think={config.think_s[0]:g}-{config.think_s[1]:g}",
        f"--dbbench-settle={config.settle_s:g}",  # the locustfile resets the figures then (ramp-up excluded)
        f"--dbbench-output={output}",
    ]
    if master_port is not None:
        argv += [
            "--master",
            f"--master-bind-host={config.listen}",
            f"--master-bind-port={master_port}",
            f"--expect-workers={config.locust_workers + config.remote_workers}",
            "--expect-workers-max-wait=60",
        ]
    return argv


def worker_argv(master_host: str, master_port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        f"--locustfile={LOCUSTFILE}",
        "--worker",
        f"--master-host={master_host}",
        f"--master-port={master_port}",
        "--loglevel=WARNING",
    ]


def run_step(
    url: str,
    users: int,
    config: LoadConfig,
    student_ids: str,
    workdir: Path,
    check: Callable[[], None] | None = None,
) -> loadstats.StepFigures:
    """One Locust run at ``users`` users (a master and workers when distributed); its figures.

    ``check`` runs every half second while Locust works and may raise (the application server died): the step
    is then abandoned at once instead of measuring refused connections until its end.
    """
    output = workdir / f"locust-{users}.json"
    output.unlink(missing_ok=True)
    master_port = (config.master_port or processes.free_port(config.listen)) if config.distributed else None
    argv = locust_argv(url, users, config, student_ids, output, master_port=master_port)
    children: list[processes.Child] = []
    with processes.running(children):
        log = workdir / f"locust-{users}.log"
        master = processes.spawn("locust", argv, env=locust_env(), cwd=workdir, log=log)
        children.append(master)
        if master_port is not None:
            for i in range(config.locust_workers):
                worker = worker_argv(connect_host(config.listen), master_port)
                children.append(
                    processes.spawn(f"locust worker {i + 1}", worker, env=locust_env(), cwd=workdir, log=log)
                )
        code = None
        for _ in processes.deadline_loop(config.step_run_time(users) + LOCUST_GRACE_S, interval=0.5):
            if check is not None:
                check()
            if (code := master.popen.poll()) is not None:
                break
        if code is None:
            raise BackendFailed(f"Locust did not finish the {users}-user step in time: {master.last_lines()}")
        for child in children[1:]:  # workers quit when their master does
            processes.wait(child, 10)
    if code != 0 or not output.exists():
        raise BackendFailed(f"Locust failed at {users} users (exit {code}): {master.last_lines()}")
    try:
        document = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackendFailed(f"Locust's figures at {users} users are unreadable: {exc}") from None
    if document.get("reset_at") is None:
        raise BackendFailed(f"Locust stopped before the measured window of the {users}-user step began")
    tracebacks = log.read_text(errors="replace").count("Traceback")
    return replace(loadstats.step_figures(document, users), tool_errors=tracebacks)
