"""MariaDB as a managed server: ``mariadb-install-db`` once, then ``mariadbd`` with the profile on its command line."""

from __future__ import annotations

import subprocess

from dbbench.errors import ConfigError
from dbbench.servers.engine import Engine, last_line
from dbbench.servers.profile import Profile
from dbbench.servers.state import Account, StateDir

ZONEINFO = "/usr/share/zoneinfo"


class MariaDBEngine(Engine):
    family = "mysql"
    name = "mysql"
    label = "MariaDB"
    data_name = "mariadb"
    package = "mariadb-server"
    bin_env = "DBBENCH_MARIADB_BIN"
    search = ("/usr/sbin", "/usr/bin")
    programs = ("mariadbd", "mariadb-install-db", "mariadb-tzinfo-to-sql", "mariadb")
    scheme = "mysql"
    user = "root"

    def socket(self, sd: StateDir) -> str:
        return str(sd.run / "mariadb.sock")

    def initialize(self, sd: StateDir, account: Account, password: str, profile: Profile) -> None:
        data = self.make_data_dir(sd, account)
        argv = [
            str(self.binaries()["mariadb-install-db"]),
            "--no-defaults",  # the system server's my.cnf is not ours to read
            f"--datadir={data}",
            # Temporary tables in a folder of this server's own: in the shared /tmp two bootstraps at once clashed
            # on a temporary table's files (1 in 6 on a 2-core machine: "Unknown table 'mysql.tmp_user_sys'").
            f"--tmpdir={sd.run}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]
        if account.switch:
            argv.append(f"--user={account.name}")
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=sd.path, **account.run_kwargs())
        if proc.returncode != 0:
            raise ConfigError(f"{self.label}: mariadb-install-db failed: {last_line(proc.stderr or proc.stdout)}")

    def after_first_start(self, sd: StateDir, account: Account, password: str, port: int) -> None:
        binaries = self.binaries()
        # Named time zones (CONVERT_TZ(..., 'Europe/Paris')) work only with these tables, as on a production server.
        zones = subprocess.run(
            [str(binaries["mariadb-tzinfo-to-sql"]), ZONEINFO], capture_output=True, text=True, check=False
        )
        if zones.returncode != 0:
            raise ConfigError(f"{self.label}: cannot read time zones from {ZONEINFO}: {last_line(zones.stderr)}")
        # dbbench connects over TCP as root@127.0.0.1 with the state directory's password; "OR REPLACE" because
        # mariadb-install-db may have made that account without one. The password travels on stdin, not argv.
        account_sql = (
            f"CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n"
        )
        client = [str(binaries["mariadb"]), "--no-defaults", f"--socket={self.socket(sd)}", "--user=root", "mysql"]
        proc = subprocess.run(client, input=zones.stdout + account_sql, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ConfigError(f"{self.label}: setting up accounts and time zones failed: {last_line(proc.stderr)}")

    def argv(self, sd: StateDir, port: int, profile: Profile) -> list[str]:
        settings = {
            "datadir": str(self.data(sd)),
            "socket": self.socket(sd),
            "pid-file": str(sd.run / "mariadb.pid"),
            "tmpdir": str(sd.run),  # as at initialisation: its temporary files stay in dbbench's folder
            "port": str(port),
            "bind-address": "127.0.0.1",
            "skip-name-resolve": "",  # 127.0.0.1 is matched as such, as PostgreSQL's pg_hba does
            **profile.settings(self.family),
        }
        options = [f"--{k.replace('_', '-')}" + (f"={v}" if v else "") for k, v in settings.items()]
        return [str(self.binaries()["mariadbd"]), "--no-defaults", *options]
