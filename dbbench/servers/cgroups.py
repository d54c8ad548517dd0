"""The kernel's control groups as dbbench reads and writes them (Linux; elsewhere every lookup finds nothing).

cgroup v1 has one tree per controller (cpu, cpuset, memory, ...), cgroup v2 a single unified tree. A process's
place in each is in /proc/<pid>/cgroup, relative to the root of the hierarchy; /proc/self/mountinfo says where
(and which part of) each hierarchy is mounted, which can differ in a container.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path

UNIFIED = ""  # the controller key of the v2 tree in /proc/<pid>/cgroup ("0::/path")
UNLIMITED = 2**62  # memory limits at or above this are the kernel's "no limit" (v1 prints 9223372036854771712)
PREFIX = "dbbench-"  # only directories named so are ever removed


@dataclass(frozen=True)
class Mount:
    """One mounted cgroup hierarchy."""

    version: int  # 1 or 2
    root: str  # the part of the hierarchy that is mounted ("/" unless a container sees only its own subtree)
    path: Path  # where it is mounted
    controllers: frozenset[str]  # v1: the hierarchy's controllers; v2: empty (read cgroup.controllers)


def mounts() -> list[Mount]:
    """The cgroup hierarchies mounted in this process's view."""
    found: list[Mount] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        head, sep, tail = line.partition(" - ")
        fields, extra = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(extra) < 3 or extra[0] not in ("cgroup", "cgroup2"):
            continue
        path = Path(fields[4].replace("\\040", " "))
        if extra[0] == "cgroup2":
            found.append(Mount(2, fields[3], path, frozenset()))
        else:
            found.append(Mount(1, fields[3], path, frozenset(extra[2].split(","))))
    return found


def membership(pid: int | str = "self") -> dict[str, str]:
    """Controller (``UNIFIED`` for v2) -> the group path of ``pid`` in that hierarchy."""
    groups: dict[str, str] = {}
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return groups
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and not parts[1]:
            groups[UNIFIED] = parts[2]
        for controller in parts[1].split(","):
            if controller:
                groups[controller] = parts[2]
    return groups


def group_dir(controller: str, pid: int | str = "self") -> Path | None:
    """The directory of ``pid``'s group in the hierarchy of ``controller`` (``UNIFIED``: the v2 tree)."""
    group = membership(pid).get(controller)
    if group is None:
        return None
    for mount in mounts():
        if controller == UNIFIED and mount.version != 2:
            continue
        if controller != UNIFIED and controller not in mount.controllers:
            continue
        root = mount.root.rstrip("/")
        if group == mount.root or group.startswith(root + "/"):
            path = mount.path / group[len(root) :].lstrip("/")
            if path.is_dir():
                return path
    return None


def read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def write(path: Path, value: str) -> None:
    """Write one value to a control file (raises OSError: the kernel refuses bad values with EINVAL)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def writable(directory: Path) -> bool:
    """Whether a group may be made under ``directory`` (root, or a group delegated to this user)."""
    return os.access(directory, os.W_OK | os.X_OK)


def make(parent: Path, name: str) -> Path:
    """Create (or reuse: a previous start's, left by processes that outlived it) the group ``parent/name``."""
    path = parent / name
    with contextlib.suppress(FileExistsError):
        path.mkdir()
    return path


def remove(directories: list[str], timeout: float = 5.0) -> list[str]:
    """Remove dbbench's groups; returns those still in use after ``timeout`` s (a process that is still ending)."""
    left: list[str] = []
    for directory in directories:
        path = Path(directory)
        if not path.name.startswith(PREFIX):
            continue  # never another program's group, whatever a state file says
        end = time.monotonic() + timeout
        while True:
            try:
                path.rmdir()  # a group is removed with rmdir even though its control files are listed in it
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > end:
                    left.append(directory)
                    break
                time.sleep(0.05)
    return left


def parse_cpu_list(text: str) -> list[int]:
    """``0-2,5`` (the kernel's CPU list format) -> [0, 1, 2, 5]."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def format_cpu_list(cpus: list[int]) -> str:
    """[0, 1, 2, 5] -> ``0-2,5``, as the kernel writes it."""
    ranges: list[str] = []
    for cpu in sorted(set(cpus)):
        if ranges and cpu == int(ranges[-1].rpartition("-")[2]) + 1:
            ranges[-1] = f"{ranges[-1].partition('-')[0]}-{cpu}"
        else:
            ranges.append(str(cpu))
    return ",".join(ranges)


def status_field(pid: int, name: str) -> str | None:
    """One field of /proc/<pid>/status (``Cpus_allowed_list``, ``VmRSS``)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == name:
                return value.strip()
    except OSError:
        return None
    return None
