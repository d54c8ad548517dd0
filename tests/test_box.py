"""The single small box (dbbench/servers/box.py): parsed and sized, refused in one line before anything starts,
and real control groups holding a process tree and giving it back."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from dbbench import processes
from dbbench.errors import ConfigError
from dbbench.load.tiers import shared_cpus
from dbbench.servers import cgroups
from dbbench.servers.box import Box, Boxed, check_fits, need_bytes, parse_box
from tests.helpers import run_cli

pytestmark = pytest.mark.nodb
MIB = 2**20


def test_parse_and_size() -> None:
    assert parse_box("1,512M") == Box(1, 512 * MIB)
    for bad in ("1", "0,512M", "x,512M", "1,12K"):
        with pytest.raises(ConfigError):
            parse_box(bad)
    assert need_bytes(128 * MIB, 5) == (128 + 64 + 6 * 40) * MIB
    check_fits(Box(1, 512 * MIB), 128 * MIB, 5)
    with pytest.raises(ConfigError, match="smaller than the database server"):
        check_fits(Box(1, 256 * MIB), 64 * MIB, 5)


def test_a_box_too_small_is_refused_before_anything_starts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"DBBENCH_STATE_DIR": str(state), "DBBENCH_POSTGRES_URL": "", "DBBENCH_MYSQL_URL": "", "DBBENCH_TARGETS": ""}
    for command in (["load", "--box", "1,256M"], ["run", "--profile", "quick", "--box", "1,256M"]):
        result = run_cli(*command, env=env, timeout=60)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dbbench: error: --box 1,256M is smaller"), result.stderr
        assert not state.exists()  # no managed server was started
    result = run_cli("load", "--box", "1,512M", "--target", "pg=postgres://u@127.0.0.1:1/x", env=env, timeout=60)
    assert result.returncode == 2 and "not --target ones" in result.stderr


def _groups(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def test_the_box_holds_a_process_tree_and_gives_it_back(tmp_path: Path) -> None:
    try:
        boxed = Boxed(Box(1, 256 * MIB))
    except ConfigError as exc:
        pytest.skip(str(exc))
    name = Path(boxed.plan.groups[0]).name
    try:
        # A "server": a shell and the child it forks, both moved in; and an "app server" started inside.
        server = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
        time.sleep(0.3)
        before = _groups(server.pid)
        app = processes.spawn(
            "app", ["sleep", "30"], env={}, cwd=tmp_path, log=tmp_path / "app.log", enter=boxed.plan.enter
        )
        try:
            assert name in _groups(app.pid)
            with boxed.holding(server.pid):
                import psutil

                tree = [server.pid, *(c.pid for c in psutil.Process(server.pid).children(recursive=True))]
                assert len(tree) == 2 and all(name in _groups(pid) for pid in tree)
                # The tiers' sampler sees both sharing the box's one CPU (what the knee search's utilization uses).
                assert shared_cpus([app.pid, server.pid]) == 1.0
            assert _groups(server.pid) == before and name not in _groups(tree[1])
        finally:
            processes.stop(app)
            server.kill()
            server.wait()
    finally:
        boxed.close()
    assert not any(Path(g).exists() for g in boxed.plan.groups)
    assert cgroups.PREFIX in name
