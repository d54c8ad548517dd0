"""Resource limits of the managed servers (--server-cpus, --server-memory): real servers in a temporary state
directory, limits read back from the kernel (cgroup files, /proc/<pid>/status), never from dbbench's own record.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbbench.servers import cgroups, limits
from dbbench.servers.managed import Servers
from dbbench.servers.profile import BUFFER_SHARE, Profile
from dbbench.servers.state import ServerEntry, alive
from tests.helpers import run_cli
from tests.test_servers import _env, _exec, _new_state_dir, _wait_for_users

MIB = 2**20
LIMIT = 512 * MIB


def _cgroups_usable() -> bool:
    """Whether this machine lets dbbench make control groups (root, or a delegated v2 group)."""
    v1 = cgroups.group_dir("memory")
    if v1 is not None and cgroups.writable(v1):
        return True
    own = cgroups.group_dir(cgroups.UNIFIED)
    return own is not None and any(
        {"cpu", "memory"} <= set((cgroups.read(d / "cgroup.subtree_control") or "").split()) and cgroups.writable(d)
        for d in [own, *own.parents]
        if str(d).startswith("/sys/fs/cgroup")
    )


@pytest.fixture(scope="module")
def state() -> Iterator[Path]:
    path = _new_state_dir()
    try:
        yield path
    finally:
        run_cli("servers", "destroy", env=_env(path))
        shutil.rmtree(path, ignore_errors=True)


def _cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = run_cli(*args, env=_env(state))
    assert proc.returncode == 0, proc.stderr
    return proc


def _entries(state: Path) -> dict[str, ServerEntry]:
    return Servers(state).read_state()["servers"]


def _group_pids(directory: str) -> set[int]:
    return {int(pid) for pid in (cgroups.read(Path(directory) / "cgroup.procs") or "").split()}


@pytest.mark.slow
def test_small_box_limits_are_applied_and_removed(state: Path) -> None:
    out = _cli(state, "servers", "start", "--server-cpus", "1", "--server-memory", "512M").stdout
    entries = _entries(state)
    pinned = limits.server_cpus(1)
    groups: list[str] = []
    for name, entry in entries.items():
        applied = limits.read_back(entry["pid"])
        mechanism = entry["limits"]["mechanism"]
        assert applied.cpus == pinned, name  # Cpus_allowed_list of the server process
        if _cgroups_usable():
            assert mechanism in (limits.V1, limits.V2)
            assert applied.memory_bytes == LIMIT and applied.cpu_quota == 1.0
            groups += entry["limits"]["groups"]
            # Every process of the server is inside, PostgreSQL's forked helpers included.
            members = set().union(*(_group_pids(g) for g in entry["limits"]["groups"]))
            assert entry["pid"] in members
        else:
            assert mechanism == limits.AFFINITY and applied.memory_bytes is None
        assert applied.describe(mechanism) in out
    if _cgroups_usable():
        postgres_group = next(g for g in entries["postgres"]["limits"]["groups"])
        helpers = _group_pids(postgres_group) - {entries["postgres"]["pid"]}
        assert helpers and all(cgroups.status_field(p, "Cpus_allowed_list") == str(pinned[0]) for p in helpers)

    # Both servers serve queries with buffers of a quarter of their memory.
    targets = {t.family: t for t in Servers(state).running_targets()}
    with targets["postgresql"].spec.connection(targets["postgresql"], None) as conn:
        cur = conn.cursor()
        cur.execute("SELECT pg_size_bytes(current_setting('shared_buffers'))")
        assert cur.fetchone()[0] == LIMIT // BUFFER_SHARE
    with targets["mysql"].spec.connection(targets["mysql"], None) as conn:
        cur = conn.cursor()
        cur.execute("SELECT @@innodb_buffer_pool_size")
        assert cur.fetchone()[0] == LIMIT // BUFFER_SHARE

    status = _cli(state, "servers", "status").stdout
    document = json.loads(_cli(state, "doctor", "--json").stdout)
    for found in document["targets"]:
        pid = entries[found["alias"]]["pid"]
        described = limits.read_back(pid).describe(entries[found["alias"]]["limits"]["mechanism"])
        assert found["settings"]["resource_limits"] == f"{described} (set by dbbench)"
        assert f"limits (set by dbbench): {described}" in status

    _cli(state, "servers", "stop")
    assert groups == [] or not any(Path(g).exists() for g in groups)


@pytest.mark.slow
def test_start_with_other_limits_restarts_them(state: Path) -> None:
    _cli(state, "servers", "start", "--server-cpus", "1", "--server-memory", "512M")
    before = _entries(state)
    groups = [g for e in before.values() for g in e["limits"]["groups"]]
    out = _cli(state, "servers", "start").stdout  # the defaults: no limits, 1 GiB of buffers
    assert out.startswith("restarted postgres, mysql")
    after = _entries(state)
    for name, entry in after.items():
        assert entry["pid"] != before[name]["pid"] and not alive(before[name]["pid"])
        applied = limits.read_back(entry["pid"])
        assert applied.memory_bytes is None and applied.cpu_quota is None
        assert applied.cpus == limits.available_cpus()
        assert entry["limits"]["mechanism"] == limits.NONE and entry["memory_bytes"] == Profile().memory_bytes
    assert not any(Path(g).exists() for g in groups)
    again = _cli(state, "servers", "start").stdout  # the same settings: nothing to restart
    assert "restarted" not in again and {e["pid"] for e in _entries(state).values()} == {
        e["pid"] for e in after.values()
    }


@pytest.mark.slow
def test_other_limits_are_refused_while_another_process_uses_them(state: Path) -> None:
    _cli(state, "servers", "stop")
    user = _exec(state, "sleep", "60")
    try:
        _wait_for_users(state, 1)
        pids = {e["pid"] for e in _entries(state).values()}
        proc = run_cli("servers", "start", "--server-cpus", "1", env=_env(state))
        line = proc.stderr.strip()
        assert proc.returncode != 0 and "\n" not in line and f"dbbench process {user.pid} uses them" in line
        assert {e["pid"] for e in _entries(state).values()} == pids  # left alone
    finally:
        user.send_signal(signal.SIGINT)
        user.communicate(timeout=90)


@pytest.mark.slow
def test_groups_of_a_killed_server_are_removed(state: Path) -> None:
    _cli(state, "servers", "start", "--server-memory", "256M")
    entries = _entries(state)
    groups = [g for e in entries.values() for g in e["limits"]["groups"]]
    if _cgroups_usable():
        assert limits.read_back(entries["mysql"]["pid"]).memory_bytes == 256 * MIB
    os.kill(entries["mysql"]["pid"], signal.SIGKILL)  # MariaDB is one process: its groups are left empty
    end = time.monotonic() + 10
    while alive(entries["mysql"]["pid"]) and time.monotonic() < end:
        time.sleep(0.05)
    stopped = run_cli("servers", "status", env=_env(state))
    assert "mysql: MariaDB: stopped" in stopped.stdout
    _cli(state, "servers", "stop")  # PostgreSQL stopped, and the dead MariaDB's groups removed as well
    assert not any(Path(g).exists() for g in groups)
    assert all(e["limits"]["groups"] == [] for e in _entries(state).values())


def _limited_sleep(plan: limits.Plan) -> subprocess.Popen[bytes]:
    """A real process that enters ``plan`` between fork and exec, as a managed server does."""
    return subprocess.Popen(["sleep", "60"], preexec_fn=plan.enter)


@pytest.mark.nodb
def test_affinity_only_when_no_group_can_be_made() -> None:
    last = limits.server_cpus(1)
    proc = _limited_sleep(limits.Plan(limits.AFFINITY, affinity=tuple(last)))
    try:
        applied = limits.read_back(proc.pid)
        assert applied.cpus == last and applied.memory_bytes is None
        expected = "affinity only: " + ("" if last == limits.available_cpus() else f"cpus {last[0]}, ")
        assert applied.describe(limits.AFFINITY) == expected + "memory not limited"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.nodb
def test_groups_hold_a_process_and_its_children_and_go_away() -> None:
    if not _cgroups_usable():
        pytest.skip("this machine lets dbbench make no control group (not root, no delegated cgroup v2 group)")
    plan = limits.prepare(f"test-{os.getpid()}", 1, 256 * MIB)
    assert plan.mechanism in (limits.V1, limits.V2) and all(Path(g).is_dir() for g in plan.groups)
    shell = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], preexec_fn=plan.enter)
    pids = [shell.pid]
    try:
        end = time.monotonic() + 10
        while len(pids) == 1 and time.monotonic() < end:
            pids += [int(p) for p in Path(f"/proc/{shell.pid}/task/{shell.pid}/children").read_text().split()]
            time.sleep(0.02)
        assert len(pids) == 2
        for pid in pids:  # the forked child is limited as its parent is
            applied = limits.read_back(pid)
            assert (applied.cpu_quota, applied.cpus, applied.memory_bytes) == (1.0, limits.server_cpus(1), 256 * MIB)
        assert cgroups.remove(list(plan.groups), timeout=0.1) == list(plan.groups)  # refused while in use
    finally:
        for pid in reversed(pids):
            os.kill(pid, signal.SIGKILL)
        shell.wait()
    assert limits.remove(plan.as_state()) == [] and not any(Path(g).exists() for g in plan.groups)


@pytest.mark.nodb
def test_cpus_left_for_the_load_generator() -> None:
    available = limits.available_cpus()
    assert limits.other_cpus(None) == available
    assert limits.other_cpus(len(available)) == available  # the servers take every CPU: everything shares
    if len(available) > 1:
        servers = limits.server_cpus(1)
        assert servers == available[-1:] and limits.other_cpus(1) == available[:-1]


@pytest.mark.nodb
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server-cpus", "0"], "at least 1"),
        (["--server-cpus", "two"], "whole number"),
        (["--server-cpus", "100000"], "lets dbbench use"),
        (["--server-memory", "64M"], "at least 128M"),
    ],
)
def test_bad_limits_are_one_line(args: list[str], message: str) -> None:
    path = _new_state_dir()
    try:
        proc = run_cli("servers", "start", *args, env=_env(path))
        line = proc.stderr.strip()
        assert proc.returncode != 0 and "\n" not in line and message in line
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.nodb
def test_cpu_lists_read_as_the_kernel_writes_them() -> None:
    assert cgroups.parse_cpu_list("0-2,5,7-8\n") == [0, 1, 2, 5, 7, 8]
    assert cgroups.format_cpu_list([8, 0, 1, 2, 5, 7]) == "0-2,5,7-8"
    assert cgroups.format_cpu_list([3]) == "3"
