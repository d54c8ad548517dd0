"""Faults with real processes and real servers: a server stopped mid-run, Ctrl-C in every long stage.

The server that gets stopped is a private MariaDB instance started by the test on a free port with its own
data directory, so stopping it disturbs nobody else using this machine's shared servers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dbbench.backends.database import drop_database, is_owned
from dbbench.backends.targets import Target, parse_target
from dbbench.results import load_result
from tests.helpers import ROOT, TARGETS

pytestmark = pytest.mark.slow

MARIADBD = shutil.which("mariadbd", path="/usr/sbin:/usr/bin")
INSTALL_DB = shutil.which("mariadb-install-db")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateMariaDB:
    """A throwaway mariadbd (same binary and version as the shared server) that a test may stop and restart."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MARIADBD
        args = [
            MARIADBD,
            "--no-defaults",
            f"--datadir={self.folder / 'data'}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.folder / 'sock'}",
            f"--tmpdir={self.folder}",
            "--user=root",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=64M",
            "--local-infile=1",
            f"--pid-file={self.folder / 'pid'}",
        ]
        with open(self.folder / "log", "ab") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError("private MariaDB did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


@pytest.fixture
def private_mariadb() -> Iterator[PrivateMariaDB]:
    """A MariaDB server of the test's own, on a free loopback port (root, empty password)."""
    if not (MARIADBD and INSTALL_DB):
        pytest.fail("mariadbd / mariadb-install-db are needed (Debian's mariadb-server)")
    folder = Path(tempfile.mkdtemp(prefix="dbbench-mariadb-"))
    subprocess.run(
        [
            INSTALL_DB,
            "--no-defaults",
            f"--datadir={folder / 'data'}",
            f"--tmpdir={folder}",  # not the shared /tmp: bootstraps at once clash on their temporary tables' files
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--user=root",
        ],
        check=True,
        capture_output=True,
    )
    server = PrivateMariaDB(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _cli(args: list[str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # A session of its own: Ctrl-C in a terminal reaches the whole foreground process group, as killpg does here.
    return subprocess.Popen(
        [sys.executable, "-m", "dbbench", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"never saw {needle!r}; output so far: {''.join(seen)[-2000:]}")


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _assert_all_gone(processes: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(processes, timeout=10)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"orphans left running: {[(p.pid, p.name()) for p in alive]}"


@pytest.fixture
def pg_target() -> Iterator[Target]:
    """A fresh dbbench database on the shared PostgreSQL, dropped afterwards."""
    base = next(t for t in TARGETS if t.family == "postgresql")
    target = base.with_database(f"{base.database}_f{uuid.uuid4().hex[:6]}")
    yield parse_target("pg", target.url)
    drop_database(target)


def test_server_stopped_during_run(private_mariadb: PrivateMariaDB, pg_target: Target, tmp_path: Path) -> None:
    my = parse_target("my", f"mysql://root@127.0.0.1:{private_mariadb.port}/dbbench_faults")
    args = [
        "run",
        "--profile",
        "quick",
        "--skip",
        "parity",
        "--output-dir",
        str(tmp_path / "run"),
        "--target",
        f"pg={pg_target.url}",
        "--target",
        f"my={my.url}",
    ]
    proc = _cli(args)
    # The benchmarks finish first; stop the server as soon as the load stage starts.
    _wait_for_line(proc, "load ...", timeout=300)
    private_mariadb.stop()
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode != 0
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("dbbench: error: stage load failed"), stderr[-2000:]
    assert " my" in last and "cannot connect" in last and "results so far kept in" in last
    assert "Traceback" not in stderr
    # The benchmark results of the completed stage are kept and readable.
    kept = {load_result(p)[0] for p in (tmp_path / "run").glob("*.json") if p.name not in {"run.json", "load.json"}}
    assert "benchmark" in kept
    _, manifest = load_result(tmp_path / "run" / "run.json", "run")
    assert [s["status"] for s in manifest["data"]["stages"]][-1] == "failed"
    # Server back: the same command completes without any manual cleanup.
    private_mariadb.start()
    again = _cli(args)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-2000:]
    assert (tmp_path / "run" / "report.html").exists()


@pytest.mark.parametrize(
    ("stage", "args", "ready"),
    [
        ("seeding", ["seed", "--attempts", "300k"], "seed"),
        ("benchmarking", ["bench", "--profile", "quick"], "bench"),
        ("load", ["load", "--quick", "--duration", "30s"], "users"),
    ],
)
def test_ctrl_c_is_prompt_and_leaves_no_orphans(
    pg_target: Target, tmp_path: Path, stage: str, args: list[str], ready: str
) -> None:
    mysql = next(t for t in TARGETS if t.family == "mysql")
    my = parse_target("my", mysql.with_database(pg_target.database).url)
    extra = ["--output", str(tmp_path / "out.json")] if stage == "load" else []
    if stage == "benchmarking":
        extra = ["--output-dir", str(tmp_path)]
    proc = _cli([*args, *extra, "--target", f"pg={pg_target.url}", "--target", f"my={my.url}"])
    try:
        time.sleep(4)  # well into the stage: connections open, children started
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        children = _descendants(proc.pid)
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        drop_database(my)
    assert proc.returncode in (130, -signal.SIGINT), stderr[-2000:]
    assert elapsed < 20, f"{stage}: took {elapsed:.1f} s to stop"
    assert "Traceback" not in stderr, stderr[-2000:]
    _assert_all_gone(children)


def test_two_seeders_on_one_database(pg_target: Target) -> None:
    """The second seeder refuses in one line while the first runs; the first still ends at exactly N."""
    target = ["--target", f"pg={pg_target.url}"]
    first = _cli(["seed", "--attempts", "200k", "--json", *target])
    try:
        # The first one holds the lock from before it creates the database until it is done: once the database
        # carries dbbench's marker, the lock is taken.
        deadline = time.monotonic() + 60
        while not is_owned(pg_target) and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "-m", "dbbench", "seed", "--attempts", "200k", *target],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode == 0, err[-2000:]
    assert second.returncode == 2, second.stdout + second.stderr
    assert second.stderr.strip().splitlines() == [
        f"dbbench: error: pg: another dbbench process is writing to database {pg_target.database!r} right now; "
        "refusing to start seeding alongside it (wait for it to finish, or stop it)"
    ]
    # Not corrupted: a third run finds exactly N attempts and nothing to add or remove.
    third = subprocess.run(
        [sys.executable, "-m", "dbbench", "seed", "--attempts", "200k", "--json", *target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert third.returncode == 0, third.stderr
    assert '"added": 0' in third.stdout and '"removed": 0' in third.stdout and '"attempts": 200000' in third.stdout
