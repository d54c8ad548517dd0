"""PostgreSQL as a managed server: ``initdb`` once, then ``postgres`` with the profile on its command line."""

from __future__ import annotations

import glob
import os
import signal
import subprocess

from dbbench.backends.postgres import PostgresSpec
from dbbench.errors import ConfigError
from dbbench.servers.engine import Engine, last_line
from dbbench.servers.profile import Profile
from dbbench.servers.state import Account, StateDir, open_nofollow


class PostgresEngine(Engine):
    family = "postgresql"
    name = "postgres"
    label = "PostgreSQL"
    data_name = "postgres"
    package = "postgresql"
    bin_env = "DBBENCH_POSTGRES_BIN"
    programs = ("initdb", "postgres")
    scheme = "postgres"
    user = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open sessions instead of waiting for them

    def search_dirs(self) -> list[str]:
        # Debian installs each major version side by side; the newest one is taken.
        dirs = glob.glob("/usr/lib/postgresql/*/bin")
        return sorted(dirs, key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0, reverse=True)

    def initialize(self, sd: StateDir, account: Account, password: str, profile: Profile) -> None:
        data = self.make_data_dir(sd, account)
        pwfile = sd.run / "initdb.pw"
        pwfile.unlink(missing_ok=True)
        fd = open_nofollow(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            os.fchown(handle.fileno(), account.uid, account.gid)
            handle.write(password)
        argv = [
            str(self.binaries()["initdb"]),
            f"--pgdata={data}",
            f"--username={self.user}",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            f"--locale={PostgresSpec.managed_locale}",
            # The socket lives in a 0700 directory: only the server account gets in, without a password.
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=sd.path, **account.run_kwargs())
        finally:
            pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            raise ConfigError(f"{self.label}: initdb failed: {last_line(proc.stderr or proc.stdout)}")

    def argv(self, sd: StateDir, port: int, profile: Profile) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(sd.run),
            **profile.settings(self.family),
        }
        argv = [str(self.binaries()["postgres"]), "-D", str(self.data(sd))]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv
