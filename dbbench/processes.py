"""Child processes that never outlive dbbench: own process group, stopped in ``finally``, killed if we die.

The load test starts gunicorn and Locust. Each child gets its own session (so a terminal's Ctrl-C reaches only
dbbench, which then stops them in order), and on Linux asks the kernel to SIGTERM it if dbbench itself is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psutil

STOP_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM me when my parent dies (Linux only; a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One started process (and its process group), with its output going to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def last_lines(self, n: int = 3) -> str:
        """The end of the child's output, for a one-line error."""
        try:
            lines = [line.strip() for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return " | ".join(lines[-n:])


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
    enter: Callable[[], None] | None = None,
) -> Child:
    """Start ``argv`` in a new session with stdout and stderr appended to ``log``. ``enter`` runs in the child
    before exec (joining a control group: what the child forks is then inside from the start)."""

    def before_exec() -> None:
        _die_with_parent()
        if enter is not None:
            enter()

    with open(log, "ab") as out:
        # argv is built by dbbench, never a shell string; preexec_fn is safe: dbbench spawns from one thread.
        popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=before_exec,
        )
    return Child(name, popen, log)


def stop(child: Child, *, timeout: float = STOP_TIMEOUT_S) -> int | None:
    """SIGTERM the child's whole process group, wait, then SIGKILL what is left. Returns the exit code."""
    if child.running():
        _signal_group(child.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.popen.wait(timeout=timeout)
    # Whatever is left in the group (a worker whose master died, a straggler) goes now.
    _signal_group(child.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.popen.wait(timeout=timeout)
    return child.popen.returncode


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@contextlib.contextmanager
def running(children: list[Child]) -> Iterator[list[Child]]:
    """Stop every child in ``children`` (newest first) when the block ends, however it ends."""
    try:
        yield children
    finally:
        for child in reversed(children):
            stop(child)


def wait(child: Child, timeout: float) -> int | None:
    """Wait for a child to exit on its own; None if it is still running after ``timeout`` seconds."""
    try:
        return child.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it; the caller binds it immediately)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C so every ``finally`` stops its children."""


@contextlib.contextmanager
def interrupts_unwind() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` for the duration (main thread only)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


_STOPPING = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def foreground(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None) -> int:
    """Run ``argv`` in dbbench's own process group to its end and return its exit code; a signal that stops dbbench
    at any moment (Ctrl-C, SIGTERM) kills it too.

    The stopping signals are held while the child is being started: one that arrived between fork and the return of
    ``Popen`` would raise in dbbench with no handle on the child, which would run on, orphaned. The child gets the
    mask back before exec; what arrived meanwhile is delivered to dbbench inside the guard below.
    """
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        child = subprocess.Popen(
            list(argv), env=dict(env), cwd=cwd, preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_SETMASK, held)
        )
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return child.wait()
    except BaseException:
        # What the command started goes with it: found now, while they are still its descendants (once it has
        # died they are re-parented and lost). It stays in dbbench's process group so the terminal's Ctrl-C and
        # keyboard reach it; a SIGTERM sent to dbbench alone reaches none of them.
        family = _descendants(child.pid)
        for process in family:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        # A terminal's Ctrl-C reached the child too: a moment to finish on its own (as subprocess.call gives it).
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=0.25)
        child.kill()
        child.wait()
        _gone, left = psutil.wait_procs(family, timeout=STOP_TIMEOUT_S / 4)
        for process in left:
            with contextlib.suppress(psutil.Error):
                process.kill()
        raise


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def deadline_loop(timeout: float, interval: float = 0.2) -> Iterator[float]:
    """Yield the time left until ``timeout`` seconds have passed, sleeping ``interval`` between turns."""
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        yield left
        time.sleep(min(interval, max(0.0, end - time.monotonic())))


@contextlib.contextmanager
def pinned(cpus: Sequence[int] | None) -> Iterator[None]:
    """This process (and every child it starts meanwhile) on ``cpus`` only; None leaves the affinity alone."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
