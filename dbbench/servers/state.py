"""Where the managed servers live: the state directory, its lock and state file, and the account they run as.

Layout of the state directory (``DBBENCH_STATE_DIR``; default ``$XDG_STATE_HOME/dbbench``, or
``/var/lib/dbbench`` for root)::

    state.json   ports, pids, and which dbbench processes use the servers (written under the lock)
    lock         flock(2) held while servers are started or stopped
    secret       the servers' password (mode 0600)
    postgres/    PostgreSQL's data directory      mariadb/   MariaDB's data directory
    run/         Unix sockets (mode 0700)          log/       each server's output
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from dbbench.errors import ConfigError

# --- state.json, as its readers and writers (managed.py, session.py, the CLI's status) see it --------------------


class ProfileState(TypedDict):
    """The profile a server was started with (``Profile.as_state``): a restart must change what differs."""

    buffers: int
    memory_limit: int | None
    cpus: int | None


class LimitsState(TypedDict, total=False):
    """A server's CPU and memory limits (``limits.Plan.as_state``), and what the kernel said once it ran."""

    mechanism: str
    groups: list[str]  # group directories made for it, removed when it stops (those still in use stay listed)
    applied: str | None


class ServerEntry(TypedDict, total=False):
    """One managed server. ``pid`` is absent when it is not running (or died: readers drop a stale one)."""

    pid: int
    port: int
    memory_bytes: int
    started: float
    profile: ProfileState
    limits: LimitsState


class State(TypedDict, total=False):
    servers: dict[str, ServerEntry]  # by engine name: postgres, mysql
    users: list[int]  # pids of the dbbench processes using the servers now
    persistent: bool  # started by ``dbbench servers start``: kept running when the last user ends


ENV_STATE_DIR = "DBBENCH_STATE_DIR"
ACCOUNT = "dbbench"  # the unprivileged account the servers run as when dbbench runs as root


def state_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The state directory: ``override``, else ``DBBENCH_STATE_DIR``, else the documented default."""
    given = override or os.environ.get(ENV_STATE_DIR)
    if given:
        return Path(given).expanduser().absolute()
    if os.geteuid() == 0:
        # Root's home is closed to other accounts, and the servers run as one.
        return Path("/var/lib/dbbench")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dbbench"


@dataclass(frozen=True)
class Account:
    """The account that owns the data directories and runs the servers."""

    name: str
    uid: int
    gid: int

    @property
    def switch(self) -> bool:
        """Whether processes must change to this account (only root can, and must: PostgreSQL refuses root)."""
        return os.geteuid() == 0 and self.uid != 0

    def run_kwargs(self) -> dict[str, Any]:
        """``subprocess`` arguments that run a program as this account."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []} if self.switch else {}


def server_account() -> Account:
    """The current user, or for root the ``dbbench`` system account (created when missing)."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    try:
        entry = pwd.getpwnam(ACCOUNT)
    except KeyError:
        cmd = ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", ACCOUNT]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ConfigError(f"cannot create the system account {ACCOUNT!r}: {proc.stderr.strip()}") from None
        entry = pwd.getpwnam(ACCOUNT)
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def check_reachable(path: Path, account: Account) -> None:
    """Refuse a state directory the server account could not reach (a parent it may not enter)."""
    if not account.switch:
        return
    for parent in [path, *path.parents]:
        if parent.exists() and parent.stat().st_uid != account.uid and not parent.stat().st_mode & 0o001:
            raise ConfigError(
                f"the server account {account.name!r} cannot enter {parent} (mode {parent.stat().st_mode & 0o777:o}); "
                f"choose a state directory it can reach with --state-dir or {ENV_STATE_DIR}"
            )


class StateDir:
    """One state directory: paths, the lock, the state file, the secret."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run = path / "run"
        self.log = path / "log"
        self.file = path / "state.json"

    def create(self, account: Account) -> None:
        check_reachable(self.path, account)
        self.path.mkdir(parents=True, exist_ok=True)
        self.path.chmod(0o755)  # the server account enters it; the secret inside stays 0600
        self.log.mkdir(exist_ok=True)
        self.run.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.run, account.uid, account.gid)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state directory's lock: one dbbench process at a time starts or stops its servers."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, or when the process dies
            yield

    def read(self) -> State:
        try:
            found = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {}
        return State(**found) if isinstance(found, dict) else {}

    def write(self, state: State) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.file)  # a reader never sees half a file

    def secret(self) -> str:
        """The servers' password, made once (hex: safe in a URL without quoting)."""
        path = self.path / "secret"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(16))
        return path.read_text().strip()


def alive(pid: int | None, marker: str = "") -> bool:
    """Whether ``pid`` is a live process whose command line holds ``marker`` (a pid reused by another is not)."""
    if not pid:
        return False
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    try:
        # A zombie has ended: it only waits for its parent to read its exit status.
        if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] in ("Z", "X"):
            return False
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return False


def terminate(pid: int, marker: str, sig: signal.Signals, timeout: float) -> None:
    """Send ``sig``, wait up to ``timeout`` seconds for the process to end, then SIGKILL it."""
    for signum, wait in ((sig, timeout), (signal.SIGKILL, 10.0)):
        if not alive(pid, marker):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        end = time.monotonic() + wait
        while time.monotonic() < end and alive(pid, marker):
            time.sleep(0.05)
