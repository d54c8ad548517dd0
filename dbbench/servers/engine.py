"""What one managed server needs: its binaries, how to initialise a data directory, its command line."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from dbbench.errors import ConfigError
from dbbench.servers.profile import Profile
from dbbench.servers.state import Account, StateDir


class Engine:
    """One kind of managed server (PostgreSQL or MariaDB), as the distribution installs it."""

    family: str  # the BackendSpec family that serves it
    name: str  # the target's name: postgres / mysql, as the URL defaults
    label: str  # the server's own name
    data_name: str  # its data directory, under the state directory
    package: str  # the Debian package with its binaries
    bin_env: str  # a directory to take the binaries from instead (tests point it at an empty one)
    search: tuple[str, ...]  # where the distribution puts them
    programs: tuple[str, ...]
    scheme: str
    user: str
    stop_signal: signal.Signals = signal.SIGTERM

    def binaries(self) -> dict[str, Path]:
        """Each program's path; a missing one is a one-line error naming the package to install."""
        override = os.environ.get(self.bin_env)
        dirs = [override] if override else [*self.search_dirs(), *os.get_exec_path()]
        found: dict[str, Path] = {}
        for program in self.programs:
            path = next((Path(d) / program for d in dirs if os.access(Path(d) / program, os.X_OK)), None)
            if path is None:
                where = f" in {override} ({self.bin_env})" if override else ""
                raise ConfigError(
                    f"{self.label} server program {program!r} not found{where}: install the Debian package "
                    f"{self.package} (apt-get install {self.package}; scripts/bootstrap.sh does it)"
                )
            found[program] = path
        return found

    def search_dirs(self) -> list[str]:
        return list(self.search)

    def data(self, sd: StateDir) -> Path:
        return sd.path / self.data_name

    def initialized(self, sd: StateDir) -> bool:
        return (sd.path / f"{self.data_name}.ready").exists()

    def make_data_dir(self, sd: StateDir, account: Account) -> Path:
        # One left by an initialisation that did not finish (the ".ready" mark is written last) is made again;
        # a folder of that name that dbbench did not make is refused, never deleted.
        sd.remove_dir(self.data_name)
        return sd.make_dir(self.data_name, 0o700, account)

    def initialize(self, sd: StateDir, account: Account, password: str, profile: Profile) -> None:
        raise NotImplementedError

    def after_first_start(self, sd: StateDir, account: Account, password: str, port: int) -> None:
        """One-time setup that needs the server running (accounts, time zone tables)."""

    def argv(self, sd: StateDir, port: int, profile: Profile) -> list[str]:
        raise NotImplementedError

    def url(self, port: int, password: str) -> str:
        return f"{self.scheme}://{self.user}:{password}@127.0.0.1:{port}/dbbench"


_REASON = re.compile(r"\bFATAL:|\bPANIC:|\[ERROR\]|\bERROR:")


def last_line(text: str) -> str:
    """The reason a program failed, from its output: its first FATAL/ERROR line if there is one (PostgreSQL and
    MariaDB log more after it: "[ERROR] Aborting", "database system is shut down"), else the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if _REASON.search(line) and not line.endswith("Aborting")]
    return (errors or lines[-1:] or ["no output"])[0]
