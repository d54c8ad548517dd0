"""Start, share and stop the managed servers of one state directory.

Who stops them: ``dbbench servers start`` marks them *persistent* (they run until ``dbbench servers stop``);
otherwise each dbbench process that uses them is listed in the state file, and the last one to finish stops
them. A process that died without saying so (kill -9) is found dead by the next one, which then stops what it
left behind. Starting and stopping happen under the state directory's lock, so two dbbench processes at once
share one pair of servers: never two servers on one data directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbbench.backends.targets import Target, parse_target
from dbbench.errors import ConfigError, ConnectionFailed
from dbbench.processes import free_port
from dbbench.servers.engine import Engine, last_line
from dbbench.servers.limits import NONE, Plan, prepare, read_back, remove
from dbbench.servers.mariadb import MariaDBEngine
from dbbench.servers.postgres import PostgresEngine
from dbbench.servers.profile import Profile
from dbbench.servers.state import (
    MADE,
    Account,
    ServerEntry,
    State,
    StateDir,
    alive,
    open_nofollow,
    server_account,
    start_time,
    state_dir,
    terminate,
    user_alive,
)

ENGINES: tuple[Engine, ...] = (PostgresEngine(), MariaDBEngine())
START_TIMEOUT_S = 120.0  # a first start initialises data directories and loads MariaDB's time zones
STOP_TIMEOUT_S = 60.0
ABORTED_START_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 30.0  # from listening to accepting dbbench's login (PostgreSQL's recovery, if any)


@dataclass(frozen=True)
class ServerStatus:
    """One managed server as ``dbbench servers status`` shows it."""

    engine: Engine
    pid: int | None
    port: int | None
    data: Path
    memory_bytes: int | None
    limits: str | None  # what the kernel says is in force (cgroup files, /proc/<pid>/status), when running

    @property
    def running(self) -> bool:
        return self.pid is not None


class Servers:
    """The managed servers of one state directory."""

    def __init__(self, path: str | os.PathLike[str] | None = None, profile: Profile | None = None) -> None:
        self.sd = StateDir(state_dir(path))
        self.profile = profile or Profile()
        self.acquired = False  # set by the session once acquire() has returned (dbbench.servers.session)
        self.restarted: list[str] = []  # servers that ``acquire(reconfigure=True)`` restarted with this profile

    # -- the state file, cleaned of what died -------------------------------------------------------------------
    def _marker(self, engine: Engine) -> str:
        return str(engine.data(self.sd))  # a server's command line names its data directory

    def read_state(self) -> State:
        state = self.sd.read()
        state.setdefault("servers", {})
        state["users"] = [user for user in state.get("users", []) if user_alive(user)]
        for engine in ENGINES:
            entry = state["servers"].get(engine.name, {})
            if entry.get("pid") and not alive(entry["pid"], entry.get("started_at"), self._marker(engine)):
                entry.pop("pid")  # stale: the server died (or was killed) without dbbench stopping it
        return state

    # -- lifecycle --------------------------------------------------------------------------------------------
    def acquire(self, *, persistent: bool, reconfigure: bool = False) -> list[Target]:
        """Make sure both servers run; count this process among their users (or keep them running for good).

        ``reconfigure``: servers running with another profile (buffers, limits) are restarted with this one, or,
        when another dbbench process uses them, refused with one line. Otherwise running servers are used as
        they are.
        """
        for engine in ENGINES:
            engine.binaries()  # a missing program is reported before either server is started
        # Checked before anything is made: a refused directory is left without a file of dbbench's in it.
        self.sd.prepare(server_account())
        with self.sd.locked():
            state = self.read_state()
            if reconfigure:
                self._reconfigure(state)
            if persistent:
                state["persistent"] = True
            else:
                state["users"] = [*_others(state["users"]), [os.getpid(), start_time(os.getpid())]]
            self.sd.write(state)  # from here on, an interrupted start is cleaned up by the next dbbench process
            started: list[Engine] = []
            try:
                for engine in ENGINES:
                    if not state["servers"].get(engine.name, {}).get("pid"):
                        self._start(engine, state)
                        started.append(engine)
            except BaseException:
                # One server failed (MariaDB after PostgreSQL): what this call started stops again, unless another
                # dbbench process uses it. "servers start" left PostgreSQL running on its own.
                if not _others(state["users"]):
                    state["persistent"] = False
                    self._stop_all(state, started)
                    self.sd.write(state)
                raise
            return self._targets(state)

    def release(self) -> None:
        """This process is done with the servers: the last user stops them unless they are persistent."""
        with self.sd.locked():
            state = self.read_state()
            state["users"] = _others(state["users"])
            if not state["users"] and not state.get("persistent"):
                self._stop_all(state)
            self.sd.write(state)

    def stop(self) -> list[int]:
        """Stop both servers now, unless dbbench processes still use them (their pids are returned)."""
        with self.sd.locked():
            state = self.read_state()
            state["persistent"] = False
            if not state["users"]:
                self._stop_all(state)
            self.sd.write(state)
            return _pids(state["users"])

    def destroy(self) -> list[int]:
        """Stop both servers and delete their data directories, logs and password: what dbbench made, only.

        One lock hold from the users' check to the last deletion: a command that starts the servers meanwhile
        waits, then finds them gone, instead of losing its data under a running server.
        """
        with self.sd.locked():
            state = self.read_state()
            if state["users"]:
                return _pids(state["users"])
            state["persistent"] = False
            self._stop_all(state)
            if any(e.get("pid") for e in state["servers"].values()):
                self.sd.write(state)
                raise ConfigError("a managed server did not stop; its data directory is kept")
            for engine in ENGINES:
                self.sd.remove_dir(engine.data_name)
                (self.sd.path / f"{engine.data_name}.ready").unlink(missing_ok=True)
            for name in ("run", "log"):
                self.sd.remove_dir(name)
            for name in ("secret", "state.json", MADE):
                (self.sd.path / name).unlink(missing_ok=True)
        return []

    def status(self) -> tuple[list[ServerStatus], State]:
        self.sd.check()
        state: State = self.read_state() if self.sd.file.exists() else {"servers": {}, "users": []}
        rows = []
        for engine in ENGINES:
            entry = state["servers"].get(engine.name, {})
            pid, port, memory = entry.get("pid"), entry.get("port"), entry.get("memory_bytes")
            rows.append(ServerStatus(engine, pid, port, engine.data(self.sd), memory, self.limits_of(entry)))
        return rows, state

    @staticmethod
    def limits_of(entry: ServerEntry) -> str | None:
        """The limits in force for a running server's state entry, read back from the kernel."""
        if not entry.get("pid"):
            return None
        return read_back(entry["pid"]).describe(entry.get("limits", {}).get("mechanism", NONE))

    def running_targets(self) -> list[Target]:
        """The targets of the servers running now (none is started)."""
        return self._targets(self.read_state())

    def _targets(self, state: State) -> list[Target]:
        password = self.sd.secret()
        return [
            parse_target(e.name, e.url(state["servers"][e.name]["port"], password))
            for e in ENGINES
            if state["servers"].get(e.name, {}).get("pid")
        ]

    # -- one server ------------------------------------------------------------------------------------------
    def _start(self, engine: Engine, state: State) -> None:
        account = server_account()
        self.sd.create(account)
        password = self.sd.secret()
        first = not engine.initialized(self.sd)
        if first:
            engine.initialize(self.sd, account, password, self.profile)
        entry = state["servers"].setdefault(engine.name, {})
        # The port of the last start if it is still free (stable URLs), else one the OS says is free.
        last = entry.get("port")
        port = last if last and _port_free(last) else free_port()
        log = self.sd.log / f"{engine.data_name}.log"
        since = log.stat().st_size if log.is_file() else 0  # the log is appended to: this start's lines only
        remove(entry.get("limits"))  # a previous run's groups, left by a server that died
        plan = prepare(self._group_name(engine), self.profile.cpus, self.profile.memory_limit_bytes)
        entry["limits"] = plan.as_state()  # recorded before the start: an interrupted one is cleaned up too
        self.sd.write(state)
        pid = _spawn(engine.argv(self.sd, port, self.profile), account, log, self.sd.path, plan)
        # The pid and its start time name the server from now on: a pid reused by another process is not it.
        entry.update(
            {"pid": pid, "started_at": start_time(pid), "port": port, "memory_bytes": self.profile.memory_bytes}
        )
        entry["profile"] = self.profile.as_state()
        self.sd.write(state)
        try:
            self._wait_listening(engine, pid, port, log, since)
            if first:
                engine.after_first_start(self.sd, account, password, port)
            self._wait_connectable(engine, pid, parse_target(engine.name, engine.url(port, password)), log)
        except BaseException:
            # A start cut short (Ctrl-C, an error): MariaDB acts on SIGTERM only once InnoDB is up, which left a
            # Ctrl-C here waiting the whole stop timeout. Nothing has used this server yet: a short wait, then KILL.
            terminate(pid, entry.get("started_at"), self._marker(engine), engine.stop_signal, ABORTED_START_TIMEOUT_S)
            entry.pop("pid", None)
            entry["limits"]["groups"] = remove(entry["limits"])
            self.sd.write(state)
            raise
        entry["limits"]["applied"] = self.limits_of(entry)  # what the kernel says, for the record
        self.sd.write(state)
        if first:
            (self.sd.path / f"{engine.data_name}.ready").touch()

    def _wait_listening(self, engine: Engine, pid: int, port: int, log: Path, since: int = 0) -> None:
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if _exited(pid):
                raise ConfigError(f"{engine.label} did not start: {last_line(_tail(log, since))} (log: {log})")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return
            time.sleep(0.1)
        raise ConfigError(f"{engine.label} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S:.0f} s")

    def _wait_connectable(self, engine: Engine, pid: int, target: Target, log: Path) -> None:
        end = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            try:
                with target.spec.connection(target, None):
                    return
            except ConnectionFailed as exc:
                if time.monotonic() > end or _exited(pid):
                    raise ConfigError(f"{engine.label} started but refuses connections: {exc} (log: {log})") from None
            time.sleep(0.2)

    def _group_name(self, engine: Engine) -> str:
        """The name of a server's control groups: its engine and its state directory (two can run at once)."""
        return f"{engine.name}-{hashlib.sha1(str(self.sd.path).encode()).hexdigest()[:10]}"

    def _reconfigure(self, state: State) -> None:
        """Stop the servers that run with another profile, so that they start again with this one."""
        entries = {e.name: state["servers"].get(e.name, {}) for e in ENGINES}
        differ = [n for n, e in entries.items() if e.get("pid") and _profile_of(e) != self.profile]
        if not differ:
            return
        others = _pids(_others(state["users"]))
        if others:
            running = _profile_of(entries[differ[0]])
            raise ConfigError(
                f"the managed servers run with other settings ({_settings(running)}) than asked "
                f"({_settings(self.profile)}), and dbbench process {', '.join(map(str, others))} uses them: "
                "start them again once it has ended"
            )
        self._stop_all(state)
        self.restarted = differ

    def _stop_all(self, state: State, engines: list[Engine] | None = None) -> None:
        for engine in ENGINES if engines is None else engines:
            entry = state["servers"].get(engine.name, {})
            if entry.get("pid"):
                started = entry.get("started_at")
                terminate(entry["pid"], started, self._marker(engine), engine.stop_signal, STOP_TIMEOUT_S)
                entry.pop("pid")
            if entry.get("limits"):
                entry["limits"]["groups"] = remove(entry["limits"])  # any still in use: tried again next time


def _pids(users: list[Any]) -> list[int]:
    return [u if isinstance(u, int) else u[0] for u in users]


def _others(users: list[Any]) -> list[Any]:
    """The ``users`` entries of other processes than this one."""
    return [u for u in users if (u if isinstance(u, int) else u[0]) != os.getpid()]


def _profile_of(entry: ServerEntry) -> Profile:
    """The profile a running server was started with (one started before limits existed: buffers only)."""
    recorded = entry.get("profile") or {"buffers": entry.get("memory_bytes")}
    return Profile(
        memory_bytes=recorded.get("buffers") or Profile().memory_bytes,
        memory_limit_bytes=recorded.get("memory_limit"),
        cpus=recorded.get("cpus"),
    )


def _settings(profile: Profile) -> str:
    return f"{profile.memory_bytes // 2**20} MiB buffers; limits: {profile.limits()}"


def _exited(pid: int) -> bool:
    """Whether our own child ``pid`` has ended (its command line is dbbench's own until it execs the server)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


def _port_free(port: int | None) -> bool:
    if not port:
        return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tail(log: Path, since: int = 0) -> str:
    try:
        fd = open_nofollow(log, os.O_RDONLY)
    except (OSError, ConfigError):
        return ""
    with os.fdopen(fd, "rb") as handle:
        handle.seek(max(since, os.fstat(fd).st_size - 16000))
        return handle.read().decode(errors="replace")


def _spawn(argv: list[str], account: Account, log: Path, cwd: Path, plan: Plan) -> int:
    """Start a server in its own session, as ``account``, output appended to ``log``; returns its pid.

    The child enters ``plan``'s control groups and CPU affinity itself before exec, so that everything the
    server forks is limited too; a failure there is written to ``log`` (the start then fails with that line).

    Not a ``subprocess.Popen``: a server started by ``dbbench servers start`` outlives the dbbench process, and
    a Popen object that is dropped while its process still runs is a resource leak in Python's eyes.
    """
    env = {"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": str(cwd)}
    out = open_nofollow(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # never written through a link
    null = os.open(os.devnull, os.O_RDONLY)
    pid = os.fork()
    if pid == 0:  # the child: only system calls until exec
        try:
            os.setsid()  # a terminal's Ctrl-C goes to dbbench, which stops the servers in order
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.chdir(cwd)
            try:
                plan.enter()  # as root still: the control files are root's
            except OSError as exc:
                os.write(2, f"dbbench: cannot apply the resource limits: {exc}\n".encode())
                raise
            if account.switch:
                os.setgroups([])
                os.setgid(account.gid)
                os.setuid(account.uid)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    os.close(out)
    os.close(null)
    return pid
