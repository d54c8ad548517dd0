"""docker-compose.yml stays valid and consistent with the settings' defaults (no Docker engine runs here)."""

from __future__ import annotations

import re

import pytest
import yaml

from dbbench.backends.targets import targets_from_env
from tests.helpers import ROOT

pytestmark = pytest.mark.nodb  # runs on a machine without database servers

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _default_port(mapping: str) -> tuple[str, int, int]:
    """'127.0.0.1:${VAR:-5432}:5432' -> ('127.0.0.1', 5432, 5432)."""
    match = re.fullmatch(r"(127\.0\.0\.1):(?:\$\{\w+:-(\d+)\}|(\d+)):(\d+)", mapping)
    assert match, mapping
    host, env_default, literal, container = match.groups()
    return host, int(env_default or literal), int(container)


def test_services_and_images_are_overridable() -> None:
    assert {"postgres", "mysql", "mariadb"} <= set(SERVICES)
    for name, service in SERVICES.items():
        assert re.fullmatch(r"\$\{DBBENCH_\w+_IMAGE:-[\w.:/-]+\}", service["image"]), name
        assert "healthcheck" in service, name
    assert "mysql:8.4" in SERVICES["mysql"]["image"]
    assert "mariadb" in SERVICES["mariadb"]["profiles"]


def test_ports_are_loopback_only_and_match_defaults() -> None:
    defaults = {t.name: t for t in targets_from_env({})}
    ports = {name: [_default_port(p) for p in s["ports"]] for name, s in SERVICES.items()}
    assert all(host == "127.0.0.1" for mappings in ports.values() for host, _, _ in mappings)
    assert ports["postgres"][0][1] == defaults["postgres"].port
    assert ports["mysql"][0][1] == defaults["mysql"].port
    assert ports["mariadb"][0][1] not in {defaults["postgres"].port, defaults["mysql"].port}


def test_credentials_match_defaults() -> None:
    defaults = {t.name: t for t in targets_from_env({})}
    pg = SERVICES["postgres"]["environment"]
    assert pg["POSTGRES_USER"] == defaults["postgres"].user and pg["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert defaults["mysql"].user == "root" and defaults["mysql"].password == ""
    assert SERVICES["mysql"]["environment"]["MYSQL_ALLOW_EMPTY_PASSWORD"] == "yes"
    assert SERVICES["mariadb"]["environment"]["MARIADB_ALLOW_EMPTY_ROOT_PASSWORD"] == "yes"


def test_equal_memory_and_full_durability() -> None:
    def flag(service: str, name: str) -> str:
        for arg in SERVICES[service]["command"]:
            if arg.startswith(f"--{name}="):
                return arg.split("=", 1)[1]
        raise AssertionError(f"{service}: --{name} not set")

    pg_args = SERVICES["postgres"]["command"]
    assert "shared_buffers=1GB" in pg_args and "fsync=on" in pg_args and "synchronous_commit=on" in pg_args
    for service in ("mysql", "mariadb"):
        assert flag(service, "innodb-buffer-pool-size") == "1G"
        assert flag(service, "innodb-flush-log-at-trx-commit") == "1"
        assert flag(service, "local-infile") == "1"
        assert flag(service, "character-set-server") == "utf8mb4"
