"""The managed servers as the other commands see them: used when no target is given, stopped when done."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from dbbench.backends.targets import ENV_TARGETS, ENV_URL, Target
from dbbench.errors import ConfigError, DbbenchError, one_line
from dbbench.processes import Terminated
from dbbench.servers.managed import ENGINES, Servers
from dbbench.servers.profile import Profile
from dbbench.servers.state import ServerEntry

# Disk use of one seeded attempt with its share of students, quizzes and answers, indexes included: measured
# after `dbbench seed --attempts 100k` on the managed servers, PostgreSQL 15 ~1500 bytes, MariaDB 10.11 ~1220.
BYTES_PER_ATTEMPT = 1500
DISK_MARGIN_BYTES = 512 * 2**20  # WAL / redo log and temporary files while loading
_SESSION: list[Target] | None = None
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """True when no target is configured in the environment (``--target`` is the caller's to check)."""
    env = os.environ if environ is None else environ
    names = [ENV_TARGETS, *(ENV_URL.format(name=e.name.upper()) for e in ENGINES)]
    return not any(env.get(name, "").strip() for name in names)


@contextmanager
def managed(
    state: str | None = None, profile: Profile | None = None, *, reconfigure: bool = False
) -> Iterator[list[Target]]:
    """The managed servers for the duration of the block; stopped afterwards unless somebody else uses them.

    ``reconfigure``: running servers with another profile are restarted with ``profile`` (see ``Servers.acquire``).
    """
    servers = Servers(state, profile)
    try:
        # Inside the try: a start that fails half-way (MariaDB after PostgreSQL) stops what did start.
        yield servers.acquire(persistent=False, reconfigure=reconfigure)
    finally:
        servers.release()


def session_targets(profile: Profile | None = None) -> list[Target]:
    """The managed servers for the rest of this process: started if needed, released when it exits.

    ``profile`` (the command's ``--server-cpus`` / ``--server-memory``): servers running with another one are
    restarted with it; without it, running servers are used as they are.

    atexit runs after every normal end, an error or Ctrl-C (the CLI turns it into exit code 130); SIGTERM and
    SIGHUP are turned into the same unwinding. A kill -9 is cleaned up by the next dbbench process.
    """
    global _SESSION
    if _SESSION is None:
        servers = Servers(None, profile or Profile.from_text(None))
        _unwind_on_termination()
        atexit.register(_release, servers)
        _SESSION = servers.acquire(persistent=False, reconfigure=profile is not None)
        servers.acquired = True
    return list(_SESSION)


def _release(servers: Servers) -> None:
    """``servers.release`` at exit; a failure there (an unusable state directory) is one line, not a traceback."""
    try:
        servers.release()
    except (DbbenchError, OSError) as exc:
        if getattr(servers, "acquired", False):  # else the start's own error has said it already
            print(f"dbbench: error: {one_line(exc)}", file=sys.stderr)


def _unwind_on_termination() -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, handler)


def _managed(target: Target) -> tuple[Servers, Path, ServerEntry] | None:
    """The state directory and data directory of the managed server ``target`` points at, if it is one."""
    if target.host not in LOCAL_HOSTS:
        return None
    servers = Servers()
    if not servers.sd.file.exists():
        return None
    state = servers.read_state()
    for engine in ENGINES:
        entry = state["servers"].get(engine.name, {})
        if engine.family == target.family and entry.get("pid") and entry.get("port") == target.port:
            return servers, engine.data(servers.sd), entry
    return None


def managed_entry(target: Target) -> ServerEntry | None:
    """The state entry (pid, port, profile) of the managed server ``target`` points at, or None."""
    found = _managed(target)
    return None if found is None else found[2]


def crashed_servers(targets: Sequence[Target], state: str | None = None) -> list[str]:
    """Why a stage on ``targets`` may have failed: each managed server among them that is no longer running
    (crashed, killed by the kernel's OOM killer, stopped by a full disk), with its log's reason. Read-only."""
    from dbbench.servers.managed import _tail
    from dbbench.servers.state import alive

    servers = Servers(state)
    try:
        recorded = servers.sd.read()  # as written: read_state() would drop the dead pids this looks for
    except DbbenchError:
        return []
    found = []
    for engine in ENGINES:
        entry = (recorded.get("servers") or {}).get(engine.name) or {}
        pid, port = entry.get("pid"), entry.get("port")
        ours = any(t.family == engine.family and t.port == port and t.host in LOCAL_HOSTS for t in targets)
        if not pid or not ours or alive(pid, entry.get("started_at"), str(engine.data(servers.sd))):
            continue
        data = engine.data(servers.sd)
        full = data.is_dir() and shutil.disk_usage(data).free < DISK_MARGIN_BYTES // 8
        lines = _tail(servers.sd.log / f"{engine.data_name}.log").strip().splitlines() or ["no output"]
        reason = "its disk is full" if full else f"last log line: {lines[-1].strip()}"  # kill -9 logs nothing
        found.append(
            f"the managed {engine.label} server (pid {pid}) is no longer running, crashed or killed (the kernel's "
            f"OOM killer?): {reason}"
        )
    return found


def settings_source(target: Target) -> str:
    """``set by dbbench`` for a managed server (its profile given on its command line), else ``as found``."""
    return "set by dbbench" if _managed(target) else "as found"


def resource_limits(target: Target) -> str:
    """The CPU and memory limits of a managed server as the kernel reports them, and who set them."""
    found = _managed(target)
    if found is None:
        return "not read (a server dbbench did not start)"
    return f"{Servers.limits_of(found[2])} (set by dbbench)"


def cpus_left(targets: Sequence[Target]) -> list[int] | None:
    """The CPUs not given to the managed servers among ``targets`` (for the app server and the load generator),
    or None when none of them is pinned (everything shares every CPU)."""
    from dbbench.servers.limits import other_cpus

    pinned = [profile.get("cpus") for found in map(_managed, targets) if found and (profile := found[2].get("profile"))]
    most = max((n for n in pinned if n), default=None)
    return other_cpus(most) if most else None


def check_disk(target: Target, attempts: int) -> None:
    """Refuse to seed ``attempts`` on a managed server whose disk would fill up (one line, before any write)."""
    found = _managed(target)
    if found is None:
        return  # somebody else's server: its data directory is not ours to measure
    data = found[1]
    need = attempts * BYTES_PER_ATTEMPT - _bytes_under(data)  # a size seeded before needs no new room
    free = shutil.disk_usage(data).free
    if need + DISK_MARGIN_BYTES > free:
        raise ConfigError(
            f"{target.name}: {attempts} attempts need about {need / 2**30:.1f} GiB more in {data}, which has "
            f"{free / 2**30:.1f} GiB free; seed a smaller size or move the state directory (DBBENCH_STATE_DIR)"
        )


def _bytes_under(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # a temporary file the server just removed
    return total
