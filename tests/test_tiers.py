"""The tiers' figures (dbbench/load/tiers.py): CPU time of real processes read from the kernel, short-lived
children included, the machine's CPU time accounted for against /proc/stat, and unknown when unreadable."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbbench.load import tiers
from dbbench.load.tiers import ProcStat, TierSampler, classify

pytestmark = pytest.mark.nodb

# Spins for `seconds` in itself and in short-lived children (each gone long before the next sample, like a
# PostgreSQL backend at CONN_MAX_AGE=0), then prints the CPU seconds all of it used, as the process itself
# counts them.
SPINNER = """
import os, resource, sys, time
def spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
for _ in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        spin(0.05)
        os._exit(0)
    os.waitpid(pid, 0)
    spin(0.05)
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(time.process_time() + children.ru_utime + children.ru_stime)
"""


def test_classify_by_nearest_root() -> None:
    def p(ppid: int) -> ProcStat:
        return ProcStat(ppid=ppid, ticks=0, child_ticks=0, rss_bytes=0)

    # 1 -> 10 (dbbench) -> 20 (gunicorn) -> 21, 22 (workers); 10 -> 30 (locust); 1 -> 40 (postmaster) -> 41
    processes = {1: p(0), 10: p(1), 20: p(10), 21: p(20), 22: p(20), 30: p(10), 40: p(1), 41: p(40), 50: p(1)}
    roots = {10: "dbbench", 20: "app", 30: "locust", 40: "database"}
    assert classify(processes, roots) == {
        10: "dbbench",
        20: "app",
        21: "app",
        22: "app",
        30: "locust",
        40: "database",
        41: "database",
    }


def test_a_tier_counts_its_short_lived_children() -> None:
    """The sampler's CPU seconds for a process tree agree with what the tree itself counted (within 10% and
    two ticks), although most of its work ran in children that lived between two samples."""
    sampler = TierSampler(interval=0.5)
    with sampler:
        # The shell is the tier's root and reaps the spinner, as a postmaster reaps its backends.
        proc = subprocess.Popen(
            ["sh", "-c", f'"{sys.executable}" -c "$0" 20; sleep 1.2', SPINNER], stdout=subprocess.PIPE, text=True
        )
        sampler.set("work", "the spinner", [proc.pid])
        start = time.time()
        out, _ = proc.communicate(timeout=60)
        end = time.time()
    # The last sample before the shell exited holds all of it (the shell sleeps after its child is reaped).
    figures = sampler.window(start - 1, end)
    counted = float(out.strip())
    work = figures["tiers"]["work"]
    assert work["unknown"] is None
    first = [s for s in sampler.samples if start - 1 <= s.at <= end]
    seen = (first[-1].ticks.get("work", 0) - first[0].ticks.get("work", 0)) / tiers.TICKS
    assert counted >= 1.9  # 20 x (50 ms + 50 ms)
    assert abs(seen - counted) <= 0.1 * counted + 2 / tiers.TICKS, (seen, counted)
    assert work["cpus"] and work["cpu_percent"] == pytest.approx(work["cpu_core_percent"] / work["cpus"], abs=0.1)
    assert work["rss_bytes"] > 0


def test_the_tiers_the_rest_and_idle_account_for_the_machine() -> None:
    """Over a window with a busy tier, what /proc/stat says the machine did is what the processes were charged
    with, plus idle and interrupts, within 10%."""
    sampler = TierSampler(interval=0.5)
    with sampler:
        proc = subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "$0" 30; sleep 1', SPINNER], text=True)
        sampler.set("work", "the spinner", [proc.pid])
        start = time.time()
        proc.wait(timeout=60)
        end = time.time()
    check = sampler.window(start, end)["cpu_accounting"]
    assert check is not None and check["seconds"] >= 1
    assert check["tiers_core_s"]["work"] > 0.5
    parts = sum(check["tiers_core_s"].values()) + check["other_core_s"] + check["idle_core_s"] + check["kernel_core_s"]
    assert abs(check["total_core_s"] - parts) <= 0.10 * check["total_core_s"], check
    assert check["ok"] is True
    assert check["unaccounted_percent"] == pytest.approx(
        100 * (check["total_core_s"] - parts) / check["total_core_s"], abs=0.1
    )


def test_a_tier_that_cannot_be_read_is_unknown_not_zero() -> None:
    sampler = TierSampler(interval=0.2)
    with sampler:
        sampler.set("database", "a remote server", [], unknown="the server runs on another machine (db.example)")
        sampler.set("pooler", "a pooler that was not found")
        start = time.time()
        time.sleep(1.5)
        end = time.time()
    figures = sampler.window(start, end)["tiers"]
    assert figures["database"]["unknown"] == "the server runs on another machine (db.example)"
    assert figures["pooler"]["unknown"] == "its processes were not found"
    for tier in figures.values():
        assert "cpu_core_percent" not in tier and "rss_bytes" not in tier
    # A window too short to hold two samples is unknown too.
    sampler.set("work", "this process", [os.getpid()])
    assert "samples" in sampler.window(end + 100, end + 101)["tiers"]["work"]["unknown"]


def test_a_server_is_found_by_its_listening_port() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        pid, why = tiers.listener("127.0.0.1", port)
        assert (pid, why) == (os.getpid(), None)
    pid, why = tiers.listener("127.0.0.1", port)  # closed now
    assert pid is None and f"port {port}" in (why or "")
    pid, why = tiers.listener("192.0.2.1", 5432)  # TEST-NET-1: never this machine
    assert pid is None and "another machine" in (why or "")


def test_processes_sharing_one_cpu_wait_for_it() -> None:
    """Two spinners pinned to one CPU: each waits for it about as long as the other runs, and the tier's
    run-queue wait says so (the signal that a tier was starved of CPU, not busy in its own work)."""
    cpu = sorted(os.sched_getaffinity(0))[0]
    spin = "import time\nend = time.process_time() + 1.0\nwhile time.process_time() < end:\n    pass\n"
    sampler = TierSampler(interval=0.5)
    with sampler:
        proc = subprocess.Popen(
            ["sh", "-c", f'"{sys.executable}" -c "$0" & "{sys.executable}" -c "$0"; wait; sleep 1', spin],
            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
        )
        sampler.set("work", "two spinners", [proc.pid])
        start = time.time()
        proc.wait(timeout=60)
        end = time.time()
    work = sampler.window(start, end)["tiers"]["work"]
    assert work["cpu_core_percent"] > 0
    assert work["cpu_wait_percent"] >= 0.5 * work["cpu_core_percent"], work


def test_an_orphan_that_ends_keeps_its_time() -> None:
    """A process whose parent has gone is reaped by init: its CPU time moves into init's children's time when
    it ends, and the accounting still adds up (neither lost nor counted twice)."""
    sampler = TierSampler(interval=0.5)
    with sampler:
        start = time.time()
        subprocess.run(["sh", "-c", f'"{sys.executable}" -c "$0" 12 >/dev/null & exit 0', SPINNER], check=True)
        time.sleep(0.5)
        orphans = [p for p, stat in tiers.scan().items() if stat.ppid == 1 and SPINNER[:20] in _cmdline(p)]
        deadline = time.time() + 30
        while any(os.path.exists(f"/proc/{p}") for p in orphans) and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.2)
        end = time.time()
    check = sampler.window(start, end)["cpu_accounting"]
    assert orphans, "the spinner was not reparented to init"
    assert check["ok"], check


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""
