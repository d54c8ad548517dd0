"""Where the managed servers live: the state directory, its lock and state file, and the account they run as.

Layout of the state directory (``DBBENCH_STATE_DIR``; default ``$XDG_STATE_HOME/dbbench``, or
``/var/lib/dbbench`` for root)::

    state.json   ports, pids and start times, and which dbbench processes use the servers (written under the lock)
    lock         flock(2) held while servers are started or stopped
    secret       the servers' password (mode 0600)
    .dbbench-made  the folders dbbench made here: the only ones it ever deletes
    postgres/    PostgreSQL's data directory      mariadb/   MariaDB's data directory
    run/         Unix sockets (mode 0700)          log/       each server's output
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, cast

import psutil

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
    started_at: float | None  # the process's start time: with the pid, what names the server (pids are reused)
    port: int
    memory_bytes: int
    profile: ProfileState
    limits: LimitsState


class State(TypedDict, total=False):
    servers: dict[str, ServerEntry]  # by engine name: postgres, mysql
    # The dbbench processes using the servers now: [pid, start time] pairs (a bare pid from an older dbbench).
    users: list[Any]
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
        if not parent.is_dir():
            continue  # not made yet (or not a directory: refused as such)
        st = parent.stat()
        enters = st.st_uid == account.uid or st.st_mode & 0o001 or (st.st_gid == account.gid and st.st_mode & 0o010)
        if not enters:
            raise ConfigError(
                f"the server account {account.name!r} cannot enter {parent} (mode {st.st_mode & 0o777:o}); "
                f"choose a state directory it can reach with --state-dir or {ENV_STATE_DIR}"
            )


def open_nofollow(path: Path, flags: int, mode: int = 0o600) -> int:
    """``os.open`` that refuses a symlink planted at ``path`` (one line, not a write through it)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(f"{path} is a symbolic link: dbbench follows no links in its state directory") from None
        raise


class StateDir:
    """One state directory: paths, the lock, the state file, the secret.

    dbbench touches only what it made: the directories it creates are listed in ``MADE`` (a directory given that
    already exists is used as it is, never chmodded, and none of its folders is deleted unless dbbench made it).
    Files inside are opened without following symbolic links.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run = path / "run"
        self.log = path / "log"
        self.file = path / "state.json"

    # -- the directory itself ----------------------------------------------------------------------------------
    def prepare(self, account: Account | None = None) -> None:
        """Make the state directory (mode 0700), or check one that exists: ours, a directory, not writable by others.

        ``account``: the server account, checked to reach it before anything is made.
        """
        if account is not None:
            check_reachable(self.path, account)
        try:
            if not os.path.lexists(self.path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(self.path, 0o700)
                    self._add_made(".")
        except OSError as exc:
            raise ConfigError(f"cannot use the state directory {self.path}: {exc.strerror}") from None
        self.check()
        if not os.path.lexists(self.path / MADE):
            # Decided once, when this dbbench first uses the directory: afterwards a state file it writes itself
            # must not vouch for a folder of the user's.
            names = self._legacy_made()
            self._write_atomic(self.path / MADE, "".join(f"{n}\n" for n in sorted(names)))

    def check(self) -> None:
        """Refuse a state directory that is not a directory of this user's that others cannot write (if it exists)."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(f"cannot use the state directory {self.path}: {exc.strerror}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"the state directory {self.path} is not a directory; choose another ({ENV_STATE_DIR})")
        if st.st_uid != os.geteuid():
            raise ConfigError(
                f"the state directory {self.path} belongs to another user (uid {st.st_uid}); "
                f"choose one of your own with {ENV_STATE_DIR}"
            )
        if st.st_mode & 0o022:
            raise ConfigError(
                f"the state directory {self.path} can be written by other users (mode {st.st_mode & 0o7777:o}); "
                f"choose a private one with {ENV_STATE_DIR}"
            )
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise ConfigError(f"the state directory {self.path} is not writable; choose another with {ENV_STATE_DIR}")

    def create(self, account: Account) -> None:
        self.prepare()
        if account.switch and "." in self.made():
            # The server account enters the directory dbbench made through its group; others stay out.
            fd = open_nofollow(self.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fchown(fd, -1, account.gid)
                os.fchmod(fd, 0o710)
            finally:
                os.close(fd)
        check_reachable(self.path, account)
        self.make_dir("log", 0o700)
        self.make_dir("run", 0o700, account)

    # -- the directories dbbench made ---------------------------------------------------------------------------
    def made(self) -> set[str]:
        """The names of the directories dbbench made here ("." for the state directory itself)."""
        try:
            fd = open_nofollow(self.path / MADE, os.O_RDONLY)
        except FileNotFoundError:
            return self._legacy_made()
        with os.fdopen(fd) as handle:
            return {line.strip() for line in handle.read(65536).splitlines() if line.strip()}

    def _legacy_made(self) -> set[str]:
        # A state directory of a dbbench before marks: its ".ready" files and state file vouch for its folders.
        marks = [self.path / "postgres.ready", self.path / "mariadb.ready", self.file]
        return {"postgres", "mariadb", "log", "run"} if any(m.is_file() for m in marks) else set()

    def _add_made(self, name: str) -> None:
        names = self.made() | {name}
        self._write_atomic(self.path / MADE, "".join(f"{n}\n" for n in sorted(names)))

    def make_dir(self, name: str, mode: int, account: Account | None = None) -> Path:
        """Make ``name`` (or reuse it if dbbench made it); a folder of someone else's there is refused, not taken."""
        path = self.path / name
        try:
            os.mkdir(path, mode)
            self._add_made(name)
        except FileExistsError:
            if name not in self.made():
                raise ConfigError(
                    f"{path} already exists and dbbench did not make it: dbbench uses only folders of its own; "
                    f"move it away or choose another state directory with {ENV_STATE_DIR}"
                ) from None
        fd = open_nofollow(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if account is not None:
                os.fchown(fd, account.uid, account.gid)  # by descriptor: a link swapped in meanwhile is not followed
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return path

    def remove_dir(self, name: str) -> None:
        """Delete ``name`` if dbbench made it; anything else of that name is left alone."""
        path = self.path / name
        if name in self.made() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)

    # -- files ---------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state directory's lock: one dbbench process at a time starts or stops its servers."""
        self.prepare()
        fd = open_nofollow(self.path / "lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the file closes, or when the process dies
            yield
        finally:
            os.close(fd)

    def read(self) -> State:
        """The state file, checked; a missing one is empty, a corrupt one is one line naming it."""
        try:
            fd = open_nofollow(self.file, os.O_RDONLY)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read the state file {self.file}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(MAX_STATE_BYTES + 1)
        try:
            return check_state(json.loads(raw), len(raw) > MAX_STATE_BYTES)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"the state file {self.file} is corrupt ({exc}); the servers it lists may still run: "
                "fix the file, or stop them by hand and remove it"
            ) from None

    def write(self, state: State) -> None:
        self._write_atomic(self.file, json.dumps(state, indent=2, sort_keys=True) + "\n")

    def _write_atomic(self, path: Path, text: str) -> None:
        # mkstemp opens O_CREAT|O_EXCL under a fresh name: a link planted at a fixed ".tmp" name is never written
        # through; os.replace then swaps the name, not whatever a link at it pointed to. A reader never sees half.
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def secret(self) -> str:
        """The servers' password, made once (hex: safe in a URL and in SQL without quoting)."""
        path = self.path / "secret"
        with contextlib.suppress(FileExistsError):
            fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(16))
        fd = open_nofollow(path, os.O_RDONLY)
        with os.fdopen(fd) as handle:
            st = os.fstat(handle.fileno())
            text = handle.read(4096).strip()
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise ConfigError(
                f"{path} must be a file of your own that only you can read (mode 0600, found "
                f"{st.st_mode & 0o7777:o}): remove it and dbbench makes a new one"
            )
        if not re.fullmatch(r"[0-9a-f]{16,128}", text):
            raise ConfigError(f"{path} does not hold a password dbbench made (hex digits): remove it to make a new one")
        return text


MADE = ".dbbench-made"
MAX_STATE_BYTES = 1 << 20


def check_state(doc: Any, too_big: bool = False) -> State:
    """``doc`` if it has the state file's shape (types included), else ValueError saying what is wrong."""
    if too_big:
        raise ValueError(f"larger than {MAX_STATE_BYTES} bytes")
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    servers = doc.get("servers", {})
    if not isinstance(servers, dict) or not all(isinstance(e, dict) for e in servers.values()):
        raise ValueError("'servers' is not an object of objects")
    for name, entry in servers.items():
        for key in ("pid", "port"):
            value = entry.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise ValueError(f"servers.{name}.{key} is {value!r}, not a positive integer")
        started = entry.get("started_at")
        if started is not None and not isinstance(started, (int, float)):
            raise ValueError(f"servers.{name}.started_at is {started!r}, not a number")
    users = doc.get("users", [])
    if not isinstance(users, list) or not all(_user(u) for u in users):
        raise ValueError("'users' is not a list of [pid, start time] pairs")
    return cast(State, dict(doc))  # its shape checked above


def _user(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return value > 0  # written by a dbbench before start times were recorded
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and value[0] > 0
        and isinstance(value[1], (int, float))
    )


def start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), None if there is no such process."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


SERVER_PROGRAMS = ("postgres", "mariadbd", "mysqld")


def alive(
    pid: int | None, started_at: float | None = None, argument: str = "", programs: tuple[str, ...] = SERVER_PROGRAMS
) -> bool:
    """Whether ``pid`` is still the process dbbench recorded: same pid *and* start time (a reused pid is not).

    Without a recorded start time (a state file of an older dbbench), it must run one of ``programs`` with
    ``argument`` as one of its arguments, exactly: an editor open on a file in the data directory, or a server of
    a state directory whose path merely starts with this one's, is not the server.
    """
    if not pid:
        return False
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    try:
        process = psutil.Process(pid)
        if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return False  # it has ended: it only waits for its parent to read its exit status
        if started_at is not None:
            return abs(process.create_time() - started_at) < 0.05
        cmdline = process.cmdline()
        return bool(cmdline) and Path(cmdline[0]).name in programs and (not argument or argument in cmdline)
    except (psutil.Error, OSError):
        return False


PYTHONS = ("python", "python3", "dbbench", *(f"python3.{minor}" for minor in range(8, 20)))


def user_alive(user: int | list[Any]) -> bool:
    """Whether a ``users`` entry of the state file is still that dbbench process."""
    if isinstance(user, int):
        # An entry of an older dbbench (a pid alone): only a dbbench command line counts.
        with contextlib.suppress(psutil.Error, OSError):
            words = psutil.Process(user).cmdline()
            return alive(user, None, "", PYTHONS) and any(w == "dbbench" or w.endswith("/dbbench") for w in words)
        return False
    return alive(user[0], user[1])


def terminate(pid: int, started_at: float | None, argument: str, sig: signal.Signals, timeout: float) -> None:
    """Send ``sig`` to the recorded process, wait up to ``timeout`` s for it to end, then SIGKILL it.

    Before each signal the process is checked to be the recorded one (pid and start time): never anyone else's.
    """
    for signum, wait in ((sig, timeout), (signal.SIGKILL, 10.0)):
        if not alive(pid, started_at, argument):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        end = time.monotonic() + wait
        while time.monotonic() < end and alive(pid, started_at, argument):
            time.sleep(0.05)
