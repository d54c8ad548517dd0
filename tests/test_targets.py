"""Target URLs: parsing, masking, selection (no database needed)."""

from __future__ import annotations

import pytest

from dbbench.backends.targets import (
    DEFAULT_URLS,
    parse_target,
    parse_target_list,
    select_targets,
    targets_from_env,
)
from dbbench.errors import ConfigError, mask_secrets, mask_url

pytestmark = pytest.mark.nodb  # runs on a machine without database servers


def test_defaults_point_at_local_servers() -> None:
    targets = targets_from_env({})
    assert [(t.name, t.family, t.host, t.port, t.user, t.database) for t in targets] == [
        ("postgres", "postgresql", "127.0.0.1", 5432, "postgres", "dbbench"),
        ("mysql", "mysql", "127.0.0.1", 3306, "root", "dbbench"),
    ]


def test_env_overrides_one_default() -> None:
    targets = targets_from_env({"DBBENCH_MYSQL_URL": "mariadb://bob:pw@db.example:3307/other"})
    mysql = targets[1]
    assert (mysql.host, mysql.port, mysql.user, mysql.password, mysql.database) == (
        "db.example",
        3307,
        "bob",
        "pw",
        "other",
    )
    assert targets[0].url == DEFAULT_URLS["postgres"]


def test_any_number_of_targets_including_a_control() -> None:
    targets = targets_from_env(
        {"DBBENCH_TARGETS": "pg_a=postgres://postgres@127.0.0.1/dbbench, pg_b=postgres://postgres@127.0.0.1/dbbench"}
    )
    assert [t.name for t in targets] == ["pg_a", "pg_b"]
    assert targets[0].port == 5432


def test_password_is_percent_decoded_and_masked() -> None:
    target = parse_target("x", "postgres://u:p%40ss%3Aword@h:1/db")
    assert target.password == "p@ss:word"
    assert "p%40ss" not in target.safe_url and "***" in target.safe_url
    assert "p@ss:word" not in repr(target)
    assert mask_secrets("failed for p@ss:word and p%40ss%3Aword", [target]) == "failed for *** and ***"


def test_mask_url_leaves_passwordless_urls_alone() -> None:
    assert mask_url("mysql://root@127.0.0.1:3306/dbbench") == "mysql://root@127.0.0.1:3306/dbbench"
    assert mask_url("mysql://root:s3cret@h/db") == "mysql://root:***@h/db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pg=oracle://h/db", "unknown URL scheme 'oracle'"),
        ("pg=postgres://h:notaport/db", "malformed URL"),
        ("pg=postgres:///db", "no host"),
        ("pg=postgres://h", "no database name"),
        ("pg=postgres://h/db-name", "bad database name"),
        ("Bad=postgres://h/db", "bad target name"),
        ("pg", "expected name=url"),
        ("a=postgres://h/db,a=mysql://h/db", "must be unique"),
    ],
)
def test_bad_urls_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_target_list(text)
    assert "\n" not in str(info.value)


def test_select_targets() -> None:
    targets = targets_from_env({})
    assert select_targets(targets, "all") == targets
    assert [t.name for t in select_targets(targets, "mysql")] == ["mysql"]
    with pytest.raises(ConfigError, match="unknown backend 'oracle'"):
        select_targets(targets, "oracle")
