"""Resource limits for the managed servers: a small production box mirrored on a larger machine.

``--server-cpus N`` pins each server to the last N CPUs dbbench may use (the app server and the load generator
get the others: :func:`other_cpus`) and caps it at N CPUs of time; ``--server-memory SIZE`` caps its memory at
SIZE. Each server gets its own limits (not one limit for both): the comparison is PostgreSQL on such a box
against MariaDB on such a box, and an idle server's caches must not squeeze the measured one. Applied with what
the machine allows, best first:

- cgroup v2: a group per server with ``cpu.max``, ``cpuset.cpus`` (when that controller is enabled; else CPU
  affinity) and ``memory.max``;
- cgroup v1: a group per server in the cpu (CFS quota), cpuset and memory hierarchies, each made under this
  process's own group there, so that limits set above dbbench (a container's) still hold;
- neither (not root, no delegated group): CPU affinity only; memory is then bounded by the buffer sizes alone.

A server enters its groups itself between fork and exec (:meth:`Plan.enter`), so what it forks (PostgreSQL's
backends) is inside from the start. What is in force is read back from the kernel (:func:`read_back`): the
group files and ``Cpus_allowed_list`` of /proc/<pid>/status, for ``dbbench servers status``, ``dbbench doctor``
and result files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Not "from dbbench.servers import cgroups": that names the package, whose __init__ imports this module.
import dbbench.servers.cgroups as cgroups
from dbbench.errors import ConfigError
from dbbench.servers.cgroups import UNIFIED, UNLIMITED
from dbbench.servers.state import LimitsState

NONE = "none"
AFFINITY = "affinity only"
V1 = "cgroup v1"
V2 = "cgroup v2"
NOT_LIMITED = "not limited"


# -- which CPUs -----------------------------------------------------------------------------------------------
def available_cpus() -> list[int]:
    """The CPUs dbbench's own cpuset allows (not its affinity: a caller may have pinned itself to fewer)."""
    for controller, name in (("cpuset", "cpuset.effective_cpus"), (UNIFIED, "cpuset.cpus.effective")):
        directory = cgroups.group_dir(controller)
        text = cgroups.read(directory / name) if directory else None
        if text:
            return cgroups.parse_cpu_list(text)
    return sorted(os.sched_getaffinity(0))


def check_cpus(cpus: int) -> None:
    have = len(available_cpus())
    if cpus > have:
        raise ConfigError(f"bad server CPU count {cpus}: this machine lets dbbench use {have} CPU(s)")


def server_cpus(cpus: int) -> list[int]:
    """The CPUs the managed servers are pinned to with ``--server-cpus cpus``: the last ``cpus`` available."""
    check_cpus(cpus)
    return available_cpus()[-cpus:]


def other_cpus(cpus: int | None) -> list[int]:
    """The CPUs left for the app server and the load generator when the servers have ``cpus`` of them.

    All available CPUs when the servers are not pinned (``None``) or take every CPU (then everything shares).
    """
    available = available_cpus()
    if not cpus or cpus >= len(available):
        return available
    return available[:-cpus]


# -- applying them --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """How one server is limited: made before it starts, entered by it before exec, recorded in the state file."""

    mechanism: str  # NONE, AFFINITY, V1 or V2
    groups: tuple[str, ...] = ()  # the group directories made for it (removed when it stops)
    join: tuple[str, ...] = ()  # the cgroup.procs files it writes its pid to
    affinity: tuple[int, ...] = ()  # CPUs it pins itself to with sched_setaffinity (empty: left alone)

    def enter(self) -> None:
        """In the server's process, after fork and before exec: only system calls (one thread, no locks)."""
        pid = str(os.getpid())
        for path in self.join:
            cgroups.write(Path(path), pid)
        if self.affinity:
            os.sched_setaffinity(0, self.affinity)

    def as_state(self) -> LimitsState:
        return {"mechanism": self.mechanism, "groups": list(self.groups)}


def prepare(name: str, cpus: int | None, memory_bytes: int | None) -> Plan:
    """Make the groups for one server called ``name`` (unique per state directory and engine) and fill them in."""
    if not cpus and not memory_bytes:
        return Plan(NONE)
    pinned = server_cpus(cpus) if cpus else []
    name = cgroups.PREFIX + name
    for make in (_v2, _v1):
        plan = make(name, pinned, memory_bytes)
        if plan is not None:
            return plan
    return Plan(AFFINITY, affinity=tuple(pinned)) if pinned else Plan(NONE)


def remove(plan_state: LimitsState | None) -> list[str]:
    """Remove a stopped server's groups (from its state entry); returns those still in use."""
    return cgroups.remove(list((plan_state or {}).get("groups", [])))


def _v2(name: str, pinned: list[int], memory_bytes: int | None) -> Plan | None:
    need = {c for c, wanted in (("cpu", pinned), ("memory", memory_bytes)) if wanted}
    parent = _v2_parent(need)
    if parent is None:
        return None
    enabled = set((cgroups.read(parent / "cgroup.subtree_control") or "").split())
    group = parent / name
    try:
        cgroups.make(parent, name)
        if pinned:
            period = 100_000  # microseconds: the kernel's default period
            cgroups.write(group / "cpu.max", f"{len(pinned) * period} {period}")
            if "cpuset" in enabled:
                cgroups.write(group / "cpuset.cpus", cgroups.format_cpu_list(pinned))
        if memory_bytes:
            cgroups.write(group / "memory.max", str(memory_bytes))
    except OSError:
        cgroups.remove([str(group)])
        return None
    affinity = () if "cpuset" in enabled else tuple(pinned)
    return Plan(V2, (str(group),), (str(group / "cgroup.procs"),), affinity)


def _v2_parent(need: set[str]) -> Path | None:
    """The nearest group at or above dbbench's own in the v2 tree where it may make a child with ``need``."""
    own = cgroups.group_dir(UNIFIED)
    mount = next((m.path for m in cgroups.mounts() if m.version == 2), None)
    if own is None or mount is None:
        return None
    for directory in [own, *own.parents]:
        enabled = set((cgroups.read(directory / "cgroup.subtree_control") or "").split())
        if need <= enabled and cgroups.writable(directory):
            return directory
        if directory == mount:
            break
    return None


def _v1(name: str, pinned: list[int], memory_bytes: int | None) -> Plan | None:
    controllers = (["cpu", "cpuset"] if pinned else []) + (["memory"] if memory_bytes else [])
    made: dict[str, str] = {}
    for controller in controllers:
        parent = cgroups.group_dir(controller)
        if parent is None or not cgroups.writable(parent):
            continue  # this controller is not ours to use here
        group = parent / name
        try:
            cgroups.make(parent, name)
            made[controller] = str(group)
            for file, value in _v1_values(controller, parent, group, pinned, memory_bytes):
                cgroups.write(group / file, value)
        except (OSError, ValueError):
            cgroups.remove(list(made.values()))
            return None
    if not made:
        return None
    joined = tuple(str(Path(g) / "cgroup.procs") for g in made.values())
    return Plan(V1, tuple(made.values()), joined, () if "cpuset" in made else tuple(pinned))


def _v1_values(
    controller: str, parent: Path, group: Path, pinned: list[int], memory_bytes: int | None
) -> list[tuple[str, str]]:
    """The control files to write in a new v1 group, in order."""
    if controller == "cpu":
        period = int(cgroups.read(group / "cpu.cfs_period_us") or 100_000)
        return [("cpu.cfs_quota_us", str(len(pinned) * period))]
    if controller == "cpuset":
        # A new cpuset group has no CPUs and no memory nodes: nobody may join it before both are set.
        mems = cgroups.read(parent / "cpuset.effective_mems") or cgroups.read(parent / "cpuset.mems") or "0"
        return [("cpuset.cpus", cgroups.format_cpu_list(pinned)), ("cpuset.mems", mems)]
    return [("memory.limit_in_bytes", str(memory_bytes))]


# -- reading them back ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Applied:
    """The limits in force for one process, as the kernel reports them."""

    cpu_quota: float | None  # CPUs of time per period; None: no quota
    cpus: list[int]  # Cpus_allowed_list
    memory_bytes: int | None  # its group's memory limit; None: none

    def describe(self, mechanism: str) -> str:
        """``cgroup v1: cpu quota 1 CPU, cpuset 1, memory 512 MiB``; ``affinity only: cpus 1, memory not limited``."""
        if mechanism == NONE:
            return NOT_LIMITED
        parts = []
        if self.cpu_quota:
            parts.append(f"cpu quota {self.cpu_quota:g} CPU")
        if self.cpus != available_cpus():
            parts.append(f"{'cpus' if mechanism == AFFINITY else 'cpuset'} {cgroups.format_cpu_list(self.cpus)}")
        memory = f"memory {self.memory_bytes // 2**20} MiB" if self.memory_bytes else "memory not limited"
        return f"{mechanism}: {', '.join([*parts, memory])}"


def read_back(pid: int) -> Applied:
    """What limits ``pid`` runs under: its groups' CPU quota and memory limit, and its allowed CPUs."""
    quota: float | None = None
    memory: int | None = None
    cpu_dir, memory_dir, unified = (cgroups.group_dir(c, pid) for c in ("cpu", "memory", UNIFIED))
    if cpu_dir is not None:
        value = cgroups.read(cpu_dir / "cpu.cfs_quota_us")
        period = cgroups.read(cpu_dir / "cpu.cfs_period_us")
        if value and period and int(value) > 0:
            quota = int(value) / int(period)
    if memory_dir is not None:
        memory = _limit(cgroups.read(memory_dir / "memory.limit_in_bytes"))
    if unified is not None:
        cpu_max = (cgroups.read(unified / "cpu.max") or "max").split()
        if quota is None and cpu_max[0] != "max" and len(cpu_max) == 2:
            quota = int(cpu_max[0]) / int(cpu_max[1])
        memory = memory or _limit(cgroups.read(unified / "memory.max"))
    allowed = cgroups.status_field(pid, "Cpus_allowed_list")
    return Applied(quota, cgroups.parse_cpu_list(allowed) if allowed else [], memory)


def _limit(text: str | None) -> int | None:
    if not text or text == "max" or int(text) >= UNLIMITED:
        return None
    return int(text)
