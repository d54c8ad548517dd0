"""``dbbench doctor`` against the live servers, and its one-line failures."""

from __future__ import annotations

import json
import socket

from dbbench.backends.targets import Target, parse_target
from dbbench.doctor import probe
from tests.helpers import TARGETS, run_cli, url_for

# What this project's machines run: the doctor must name these, whatever the URL scheme says.
EXPECTED_VENDOR = {"postgresql": "PostgreSQL", "mysql": "MariaDB"}


def test_probe_reports_vendor_version_and_durability(target: Target) -> None:
    result = probe(target)
    assert result.ok, result.error
    assert result.info is not None
    assert result.info.vendor == EXPECTED_VENDOR[target.family]
    assert result.info.version.split(".")[0] in {"15", "10"}
    keys = {
        "postgresql": {"fsync", "synchronous_commit", "shared_buffers"},
        "mysql": {
            "innodb_flush_log_at_trx_commit",
            "sync_binlog",
            "log_bin",
            "innodb_buffer_pool_size",
            "max_allowed_packet",
            "local_infile",
            "character_set_server",
        },
    }[target.family]
    assert keys <= set(result.info.settings)
    assert result.info.buffer_bytes > 0
    assert result.info.settings["collation"]


def test_cli_doctor_prints_both_servers() -> None:
    proc = run_cli("doctor")
    assert proc.returncode == 0, proc.stderr
    assert "PostgreSQL 15." in proc.stdout
    assert "MariaDB 10.11" in proc.stdout
    assert "durable commits: yes" in proc.stdout


def test_cli_doctor_json() -> None:
    proc = run_cli("doctor", "--json")
    document = json.loads(proc.stdout)
    assert [t["alias"] for t in document["targets"]] == [t.name for t in TARGETS]
    assert all(t["reachable"] and t["vendor"] and t["version"] for t in document["targets"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_wrong_port_is_one_line_and_nonzero() -> None:
    port = _free_port()
    proc = run_cli("doctor", "--target", f"pg=postgres://postgres@127.0.0.1:{port}/dbbench")
    assert proc.returncode == 1
    assert "pg: UNREACHABLE" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1


def test_wrong_password_is_masked_and_nonzero() -> None:
    mysql = next(t for t in TARGETS if t.family == "mysql")
    proc = run_cli("doctor", "--target", f"my={url_for(mysql, mysql.user, 'Sw0rdfish-42')}")
    assert proc.returncode == 1
    assert "Access denied" in proc.stdout
    assert "Sw0rdfish-42" not in proc.stdout + proc.stderr
    assert "***" in proc.stdout


def test_not_a_database_server_is_one_line() -> None:
    # A listening socket that never speaks the protocol (like pointing at the wrong service).
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        target = parse_target("x", f"mysql://root@127.0.0.1:{port}/dbbench")
        result = probe(target)
    assert not result.ok and result.error and "\n" not in result.error


def test_unknown_backend_is_a_one_line_error() -> None:
    proc = run_cli("doctor", "--backend", "oracle")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "dbbench: error: unknown backend 'oracle' (configured: postgres, mysql, or all)"
