"""The single small box: the app server and the database server under test inside one CPU and memory limit,
as on a small droplet that runs both (``dbbench load --box 1,512M``); Locust stays outside it.

The box is one set of control groups (limits.prepare: a CPU quota and cpuset of N CPUs, a memory limit). For
each configuration the managed database server under test is moved into it, all its processes (a PostgreSQL
backend forked later is born inside), and gunicorn starts inside it; afterwards the server's processes go back
to the groups they came from. Only servers dbbench started are moved: a server given by URL is somebody
else's to configure. ``--server-cpus``/``--server-memory`` keep their meaning (each server's own limits); the
box adds one limit around the server and the app server together.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dbbench.servers.cgroups as cgroups
from dbbench.errors import ConfigError
from dbbench.servers.limits import NONE, Plan, available_cpus, prepare, remove

# What the box must hold beside the database server's buffers: the server's own processes and per-connection
# memory, and the app server's master and workers (a gunicorn worker with Django loaded: ~40-60 MiB RSS, most of
# it shared with the master after --preload; counted in full to be safe).
SERVER_OVERHEAD = 64 * 2**20
APP_WORKER = 40 * 2**20


@dataclass(frozen=True)
class Box:
    cpus: int
    memory_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {"cpus": self.cpus, "memory_bytes": self.memory_bytes}

    def describe(self) -> str:
        return f"{self.cpus} CPU, {self.memory_bytes // 2**20} MiB"


def parse_box(text: str) -> Box:
    """``"1,512M"`` -> ``Box(1, 512 MiB)``; one line when it is not that."""
    from dbbench.servers.profile import parse_memory

    cpus_text, sep, memory_text = text.partition(",")
    try:
        cpus = int(cpus_text.strip())
    except ValueError:
        cpus = 0
    if not sep or cpus < 1:
        raise ConfigError(f"--box {text!r}: give CPUs and memory, e.g. 1,512M")
    have = len(available_cpus())
    if cpus > have:
        raise ConfigError(f"--box {text!r}: this machine lets dbbench use {have} CPU(s)")
    return Box(cpus, parse_memory(memory_text.strip()))


def need_bytes(buffers: int, workers: int) -> int:
    """The least memory a box holds the database server (with ``buffers``) and ``workers`` app workers in."""
    return buffers + SERVER_OVERHEAD + (workers + 1) * APP_WORKER


def check_fits(box: Box, buffers: int, workers: int) -> None:
    """Refuse a box smaller than the server and the app server can start in (one line, before anything starts)."""
    need = need_bytes(buffers, workers)
    if box.memory_bytes < need:
        raise ConfigError(
            f"--box {box.cpus},{box.memory_bytes // 2**20}M is smaller than the database server "
            f"({buffers // 2**20} MiB of buffers + {SERVER_OVERHEAD // 2**20} MiB) and {workers} app workers "
            f"({APP_WORKER // 2**20} MiB each) need together: {need // 2**20} MiB; give a larger box, fewer "
            "--workers, or smaller buffers with --server-memory"
        )


def buffers_for(box: Box) -> int:
    """The buffers the managed servers get in a box when --server-memory does not say: a quarter of the box,
    PostgreSQL's documented starting point for shared_buffers (servers/profile.py)."""
    from dbbench.servers.profile import BUFFER_SHARE

    return box.memory_bytes // BUFFER_SHARE // 2**20 * 2**20


class Boxed:
    """The box's control groups for one load test: made on entry, removed on exit."""

    def __init__(self, box: Box) -> None:
        self.box = box
        name = f"box-{hashlib.sha1(str(os.getpid()).encode()).hexdigest()[:10]}"
        self.plan: Plan = prepare(name, box.cpus, box.memory_bytes)
        if self.plan.mechanism == NONE or not self.plan.join:
            remove(self.plan.as_state())
            raise ConfigError(
                "--box needs control groups dbbench may create (cgroup v1 or v2, as root or delegated); "
                "this machine has none"
            )
        for group in self.plan.groups:  # cgroup v1: a process moved in brings the memory it already uses
            with contextlib.suppress(OSError):
                cgroups.write(Path(group) / "memory.move_charge_at_immigrate", "3")

    def cpus(self) -> list[int]:
        """The CPUs the box runs on (dbbench and Locust take the others)."""
        return available_cpus()[-self.box.cpus :]

    def describe(self) -> dict[str, Any]:
        return {**self.box.as_dict(), "mechanism": self.plan.mechanism}

    def close(self) -> None:
        remove(self.plan.as_state())

    @contextlib.contextmanager
    def holding(self, server_pid: int) -> Iterator[None]:
        """The database server ``server_pid`` and everything it forks inside the box for the block."""
        import psutil

        origin = {p: _groups(p) for p in _tree(server_pid)}
        home = _groups(server_pid)
        affinity = {p: _affinity(p) for p in origin}
        for pid in origin:
            self._enter(pid)
        try:
            yield
        finally:
            for pid in _tree(server_pid):
                for path in origin.get(pid) or home:
                    with contextlib.suppress(OSError):
                        cgroups.write(Path(path), str(pid))
                if self.plan.affinity:
                    with contextlib.suppress(OSError, psutil.Error):
                        _set_affinity(pid, affinity.get(pid) or affinity[server_pid])

    def _enter(self, pid: int) -> None:
        for path in self.plan.join:
            try:
                cgroups.write(Path(path), str(pid))
            except OSError as exc:
                raise ConfigError(f"--box: could not move the database server into the box: {exc}") from None
        if self.plan.affinity:
            _set_affinity(pid, list(self.plan.affinity))


def _tree(pid: int) -> list[int]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [pid, *(c.pid for c in root.children(recursive=True))]
    except psutil.Error:
        return []


def _groups(pid: int) -> list[str]:
    """The cgroup.procs files of ``pid``'s groups in the hierarchies a box uses."""
    found = []
    for controller in ("cpu", "cpuset", "memory", cgroups.UNIFIED):
        directory = cgroups.group_dir(controller, pid)
        if directory is not None and str(directory / "cgroup.procs") not in found:
            found.append(str(directory / "cgroup.procs"))
    return found


def _affinity(pid: int) -> list[int]:
    try:
        return sorted(os.sched_getaffinity(pid))
    except OSError:
        return []


def _set_affinity(pid: int, cpus: list[int]) -> None:
    """Every thread of ``pid`` (MariaDB's are threads: sched_setaffinity on the pid moves only the first)."""
    import psutil

    for thread in psutil.Process(pid).threads():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(thread.id, cpus)
