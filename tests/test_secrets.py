"""No password appears in anything a run prints or writes (issue: secrets)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dbbench.backends.database import drop_database
from dbbench.backends.targets import Target, parse_target
from tests.helpers import TARGETS, run_cli, scratch_user, url_for

SECRET = "Tr0ub4dor&3-horse"  # '&' is percent-encoded in the URL: both spellings must stay hidden
ENCODED = "Tr0ub4dor%263-horse"
USER = "dbbench_pw"


@pytest.fixture
def password_targets() -> Iterator[list[Target]]:
    """A PostgreSQL role and a MariaDB user of their own that really have the password, on the configured servers."""
    pg_server = next(t for t in TARGETS if t.family == "postgresql")
    my_server = next(t for t in TARGETS if t.family == "mysql")
    with (
        scratch_user(pg_server, createdb=True, password=SECRET) as (pg_user, _),
        scratch_user(my_server, createdb=True, password=SECRET) as (my_user, _),
    ):
        targets = [
            parse_target("pg", url_for(pg_server, pg_user, SECRET, f"{pg_user}_pw")),
            parse_target("my", url_for(my_server, my_user, SECRET, f"{my_user}_pw")),
        ]
        assert all(t.password == SECRET and ENCODED in t.url for t in targets)
        yield targets
        for target in targets:
            # The run's rehearsal stage copies into <database>_rehearsal on the other server: that goes too.
            drop_database(target.with_database(f"{target.database}_rehearsal"))
            drop_database(target)


def _written(folder: Path) -> Iterator[tuple[Path, bytes]]:
    for path in folder.rglob("*"):
        if path.is_file():
            yield path, path.read_bytes()


@pytest.mark.slow
def test_a_whole_run_never_writes_the_password(password_targets: list[Target], tmp_path: Path) -> None:
    args = [arg for t in password_targets for arg in ("--target", f"{t.name}={t.url}")]
    out = tmp_path / "run"
    proc = run_cli("run", "--profile", "quick", "--skip", "load", "--output-dir", str(out), *args, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "report.html").exists()
    printed = proc.stdout + proc.stderr
    assert SECRET not in printed and ENCODED not in printed
    files = list(_written(out))
    assert len(files) >= 4  # benchmark JSON, parity, report.md, report.html, plots
    for path, data in files:
        for secret in (SECRET, ENCODED):
            assert secret.encode() not in data, f"{path} holds the password"
    # The masked URL is what the results carry instead.
    assert any(b"***@127.0.0.1" in data for _, data in files)


def test_errors_mask_the_password(password_targets: list[Target]) -> None:
    wrong = password_targets[1].url.replace(ENCODED, "not-" + ENCODED)
    proc = run_cli("doctor", "--target", f"my={wrong}")
    assert proc.returncode == 1
    assert "Access denied" in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr and ENCODED not in proc.stdout + proc.stderr
