"""PgBouncer in front of a PostgreSQL target, in transaction pooling mode, as many production Django sites run it.

``with pgbouncer(target, pool_size=20) as pooled:`` starts the distribution's ``pgbouncer`` on a free loopback
port, with a configuration and a password file of its own (mode 0600, in a private temporary directory that is
deleted afterwards), and yields a :class:`Target` for the same user and database that goes through it. It is
stopped however the block ends, and dies with dbbench if dbbench is killed.

Authentication works with any PostgreSQL the target reaches: clients log in to PgBouncer with MD5 (cheap per
login; see ``_config``), and PgBouncer logs in to the server with the same password (plain text in its file, so
it can answer SCRAM, MD5 or trust). A target without a password (a trust server) gets a generated one for the
PgBouncer side.

In transaction mode a server connection serves one transaction and goes back to the pool: session state (SET,
advisory locks, server-side prepared statements, WITH HOLD cursors) does not survive between transactions.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote, urlencode

from dbbench.backends.targets import Target, parse_target
from dbbench.errors import ConfigError, ConnectionFailed
from dbbench.processes import _die_with_parent, free_port  # the same "dies with dbbench" as other children
from dbbench.servers.engine import last_line
from dbbench.servers.state import Account, alive, check_reachable, server_account, start_time

PACKAGE = "pgbouncer"
BIN_ENV = "DBBENCH_PGBOUNCER_BIN"  # a directory to take the program from instead (tests point it at an empty one)
SEARCH = ("/usr/sbin", "/usr/bin")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
MAX_POOL_SIZE = 1000
PREFIX = "dbbench-pgbouncer-"
OWNER = "dbbench.owner"  # [pid, start time] of the dbbench process whose folder it is


def program() -> Path:
    """The ``pgbouncer`` program; missing, a one-line error naming the package."""
    override = os.environ.get(BIN_ENV)
    dirs = [override] if override else [*SEARCH, *os.get_exec_path()]
    for directory in dirs:
        path = Path(directory) / "pgbouncer"
        if os.access(path, os.X_OK):
            return path
    where = f" in {override} ({BIN_ENV})" if override else ""
    raise ConfigError(
        f"PgBouncer program 'pgbouncer' not found{where}: install the Debian package {PACKAGE} "
        f"(apt-get install {PACKAGE}; scripts/bootstrap.sh does it)"
    )


@contextlib.contextmanager
def pgbouncer(
    target: Target,
    *,
    pool_size: int = 20,
    max_clients: int = 1000,
    name: str | None = None,
    cpus: Sequence[int] | None = None,
) -> Iterator[Target]:
    """PgBouncer in front of ``target`` for the duration of the block; yields the target that goes through it.

    ``pool_size``: server connections per database and user (PgBouncer's default_pool_size); clients beyond it
    wait for a free one. ``max_clients``: client connections PgBouncer accepts at once. ``name``: the yielded
    target's name (default: ``target``'s). ``cpus``: CPUs PgBouncer is pinned to (default: not pinned).
    """
    if target.spec.pooler != "pgbouncer":
        raise ConfigError(f"{target.name}: PgBouncer pools PostgreSQL connections; {target.safe_url} is not one")
    if not 1 <= pool_size <= MAX_POOL_SIZE or max_clients < 1:
        raise ConfigError(f"PgBouncer: pool size from 1 to {MAX_POOL_SIZE} and at least 1 client (got {pool_size})")
    binary = program()
    account = server_account()
    check_reachable(Path(tempfile.gettempdir()), account)  # PgBouncer runs as this account and reads its files
    sweep_leftovers()
    workdir = Path(tempfile.mkdtemp(prefix=PREFIX))  # mode 0700
    try:
        _private(workdir / OWNER, json.dumps([os.getpid(), start_time(os.getpid())]), account)
        os.chown(workdir, account.uid, account.gid)
        password = target.password or secrets.token_hex(16)
        port = free_port()
        _private(workdir / "userlist.txt", f'"{_quoted(target.user)}" "{_quoted(password)}"\n', account)
        config = _config(target, port, workdir / "userlist.txt", pool_size, max_clients)
        _private(workdir / "pgbouncer.ini", config, account)
        log = workdir / "pgbouncer.log"
        proc = _start(binary, workdir, log, account, cpus)
        try:
            pooled = _pooled(target, port, password, name or target.name)
            _wait_ready(proc, pooled, log)
            # Read once at start (again only on a reload, which dbbench never asks for): the password leaves the
            # disk now, so a kill -9 from here on leaves none behind.
            (workdir / "userlist.txt").unlink()
            yield pooled
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def sweep_leftovers() -> list[Path]:
    """Delete the working folders of earlier runs whose dbbench process is gone (killed with -9 mid-start: their
    userlist.txt holds a password). Only folders with dbbench's owner file are touched; returns those deleted."""
    swept = []
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            if folder.is_symlink() or folder.lstat().st_uid not in (os.geteuid(), server_account().uid):
                continue
            pid, started = json.loads((folder / OWNER).read_text())
        except (OSError, ValueError, TypeError):
            continue
        if not alive(pid, started):
            shutil.rmtree(folder, ignore_errors=True)
            swept.append(folder)
    return swept


def _config(target: Target, port: int, auth_file: Path, pool_size: int, max_clients: int) -> str:
    settings = {
        "listen_addr": "127.0.0.1",
        "listen_port": str(port),
        "unix_socket_dir": "",  # TCP only: no socket file in a shared directory
        # Not SCRAM: its 4096 PBKDF2 rounds on both ends of every client login (Django reconnects per request at
        # CONN_MAX_AGE=0) cost PgBouncer, a single thread, more than the pooling saves. It listens on loopback
        # only and the password is generated; PgBouncer logs into PostgreSQL with SCRAM as before.
        "auth_type": "md5",
        "auth_file": str(auth_file),
        "pool_mode": "transaction",
        "default_pool_size": str(pool_size),
        "min_pool_size": "0",
        "reserve_pool_size": "0",  # exactly pool_size server connections, never a few more under pressure
        "max_client_conn": str(max_clients),
        # JDBC and some drivers send it at login; PgBouncer would otherwise refuse the connection.
        "ignore_startup_parameters": "extra_float_digits",
        "log_connections": "0",  # a load test opens thousands: the log would be all logins
        "log_disconnections": "0",
    }
    lines = [
        "[databases]",
        # Any database name goes to the same server under that name, so with_database() targets work too.
        f"* = host={target.host} port={target.port}",
        "",
        "[pgbouncer]",
        *(f"{key} = {value}" for key, value in settings.items()),
    ]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    """A value inside double quotes in PgBouncer's auth file (a quote is doubled)."""
    return text.replace('"', '""')


def _private(path: Path, text: str, account: Account) -> None:
    """A file only PgBouncer's account reads: created 0600, never world-readable for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chown(path, account.uid, account.gid)


def _pooled(target: Target, port: int, password: str, name: str) -> Target:
    # TLS options are the server's business: PgBouncer listens on loopback without TLS.
    options = {k: v for k, v in target.options.items() if not k.startswith("ssl")}
    query = f"?{urlencode(options)}" if options else ""
    userinfo = f"{quote(target.user, safe='')}:{quote(password, safe='')}"
    return parse_target(name, f"postgres://{userinfo}@127.0.0.1:{port}/{target.database}{query}")


def _start(
    binary: Path, workdir: Path, log: Path, account: Account, cpus: Sequence[int] | None
) -> subprocess.Popen[bytes]:
    pinned = tuple(cpus or ())

    def in_child() -> None:  # after the change of account (Popen applies user= first), before exec
        _die_with_parent()
        if pinned:
            os.sched_setaffinity(0, pinned)

    env = {"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": str(workdir)}
    with open(log, "ab") as out:
        # PgBouncer refuses to run as root: as root it runs as the servers' account (state.server_account).
        return subprocess.Popen(
            [str(binary), str(workdir / "pgbouncer.ini")],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches dbbench, which stops it in order
            preexec_fn=in_child,
            **account.run_kwargs(),
        )


def _wait_ready(proc: subprocess.Popen[bytes], pooled: Target, log: Path) -> None:
    """Until a login through PgBouncer reaches the server (a wrong password shows here, not mid-test)."""
    end = time.monotonic() + START_TIMEOUT_S
    while not _listening(pooled.port):
        if proc.poll() is not None:
            raise ConfigError(f"PgBouncer did not start: {last_line(_tail(log))}")
        if time.monotonic() > end:
            raise ConfigError(f"PgBouncer did not listen on 127.0.0.1:{pooled.port} within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.1)
    # Listening, it is ready: a refusal now is the server's answer (and PgBouncer would wait server_login_retry,
    # 15 s, before trying that server again).
    try:
        with pooled.spec.connection(pooled, None) as conn:
            conn.cursor().execute("SELECT 1")
    except ConnectionFailed as exc:
        raise ConfigError(f"PgBouncer started, but a login through it failed: {exc}") from None


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (PgBouncer's immediate shutdown: clients and server connections closed), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-4000:]
    except OSError:
        return ""
