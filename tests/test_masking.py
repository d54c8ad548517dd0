"""Passwords are masked from the URL as parsed, whatever characters they hold (no server needed)."""

from __future__ import annotations

import pytest

from dbbench.backends.targets import parse_target
from dbbench.errors import mask_secrets, mask_url
from tests.helpers import run_cli

pytestmark = pytest.mark.nodb

AT_SECRET = "se@cr/et!"  # an "@" and a "/" in a ?password=: the old pattern stopped at the "@"


@pytest.mark.parametrize("scheme", ["postgres", "mysql"])
def test_a_query_password_with_an_at_sign_is_masked_whole(scheme: str) -> None:
    url = f"{scheme}://u@127.0.0.1:9/db?password={AT_SECRET}&connect_timeout=2"
    target = parse_target("t", url)
    assert target.password == AT_SECRET
    for shown in (target.safe_url, mask_url(f"failed: {url} (refused)")):
        assert "cr/et" not in shown and "se@" not in shown and "***" in shown, shown


def test_the_console_never_shows_a_query_password_with_an_at_sign() -> None:
    url = f"postgres://u@127.0.0.1:9/db?password={AT_SECRET}&sslmode=disable"
    proc = run_cli("doctor", env={"DBBENCH_TARGETS": "", "DBBENCH_POSTGRES_URL": url, "DBBENCH_MYSQL_URL": ""})
    assert proc.returncode != 0
    assert "cr/et" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_a_short_password_does_not_garble_words() -> None:
    target = parse_target("t", "postgres://u:es@127.0.0.1:9/db")  # L6
    text = mask_secrets("the response was: es (u:es@127.0.0.1)", [target])
    assert "response" in text and "es" not in text.replace("response", "") and text.count("***") == 2, text


def test_an_ipv6_url_survives_another_database_name() -> None:
    target = parse_target("t", "postgres://u:pw@[::1]:5432/db")  # L13
    other = target.with_database("db_seedbench")
    assert (other.host, other.port, other.database) == ("::1", 5432, "db_seedbench")
    assert other.safe_url == "postgres://u:***@[::1]:5432/db_seedbench"
