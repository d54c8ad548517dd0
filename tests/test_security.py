"""What a red-team pass broke (issue 20), kept broken no more: report markup, local files, passwords in URLs,
reserved target names, foreign tables, the same database under two spellings."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dbbench.backends.database import drop_database, ensure_database
from dbbench.backends.targets import Target, parse_target, parse_target_list
from dbbench.errors import ConfigError, ForeignDatabaseError, mask_url, one_line
from dbbench.report.build import FIGURES_DIR, build_report
from tests.helpers import FIXTURES, admin_sql, run_cli, scratch_user, url_for

HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)><iframe src="javascript:alert(3)"></iframe>`x'


class _Tags(HTMLParser):
    """Every tag and attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _hostile_results(tmp_path: Path, local_png: Path) -> Path:
    """The checked-in benchmark results with markup and a local image path in every field a person could edit."""
    doc = json.loads((FIXTURES / "results_small.json").read_text())
    for bench in doc["benchmarks"]:
        info = bench["extra_info"]["dbbench"]
        if info["alias"] == "mysql":
            info["alias"] = "my`sql" + HOSTILE
        info["version"] += HOSTILE
        info["server"]["settings"]["collation"] = f"![x]({local_png}) {HOSTILE}"
        info["operation"] += "<b onmouseover=alert(4)>"
    doc["machine_info"]["node"] = f"![y]({local_png})"
    doc["dbbench_run"]["profile"] = HOSTILE
    doc["dbbench_run"]["warnings"] = [f"![z]({local_png})", "[click](javascript:alert(5))"]
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(doc))
    return path


def test_report_runs_no_markup_from_result_files_and_reads_no_local_file(tmp_path: Path) -> None:
    secret = b"\x89PNG local file that must not be read " + uuid.uuid4().bytes
    local_png = tmp_path / "private.png"
    local_png.write_bytes(secret)
    missing_png = tmp_path / "missing.png"
    results = _hostile_results(tmp_path, local_png)
    doc = json.loads(results.read_text())
    doc["benchmarks"][0]["extra_info"]["dbbench"]["server"]["settings"]["collation"] = f"![m]({missing_png})"
    results.write_text(json.dumps(doc))
    out = tmp_path / "report"
    out.mkdir()

    proc = run_cli("report", str(results), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr  # a missing path is not read, so it cannot fail the report

    page = (out / "report.html").read_text()
    parser = _Tags()
    parser.feed(page)
    tags = {tag for tag, _ in parser.tags}
    assert not tags & {"script", "iframe", "object", "embed", "b"}, tags
    for tag, attrs in parser.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        assert not any("javascript:" in (v or "") for v in attrs.values()), (tag, attrs)
        if tag == "img":
            assert (attrs["src"] or "").startswith("data:image/png;base64,"), attrs
    embedded = [base64.b64decode(attrs["src"].split(",", 1)[1]) for tag, attrs in parser.tags if tag == "img"]
    assert embedded, "the report's own figures are still embedded"
    assert secret not in b"".join(embedded) and base64.b64encode(secret).decode() not in page
    # The values are there, as text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # report.md is escaped too: a viewer that renders raw HTML (many do) finds none in it, nor an image of ours.
    from markdown_it import MarkdownIt

    raw = _Tags()
    raw.feed(MarkdownIt("commonmark", {"html": True}).enable("table").render((out / "report.md").read_text()))
    assert {tag for tag, _ in raw.tags} & {"script", "iframe", "b"} == set()
    assert all(a["src"].startswith(f"{FIGURES_DIR}/") for tag, a in raw.tags if tag == "img"), raw.tags


def test_report_figures_replace_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "report"
    (out / FIGURES_DIR).mkdir(parents=True)
    (out / FIGURES_DIR / "largest_size.png").symlink_to(victim)
    (out / "report.html").symlink_to(victim)
    build_report([FIXTURES / "results_small.json"], out)
    assert victim.read_text() == "precious"
    assert not (out / FIGURES_DIR / "largest_size.png").is_symlink()
    assert (out / FIGURES_DIR / "largest_size.png").read_bytes().startswith(b"\x89PNG")
    assert not (out / "report.html").is_symlink()


def test_report_refuses_a_symlinked_figures_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "report"
    out.mkdir()
    (out / FIGURES_DIR).symlink_to(elsewhere)
    proc = run_cli("report", str(FIXTURES / "results_small.json"), "--output-dir", str(out))
    assert proc.returncode == 2
    assert proc.stderr.startswith("dbbench: error: ") and "symbolic link" in proc.stderr
    assert list(elsewhere.iterdir()) == [] and not (out / "report.md").exists()


def test_report_files_follow_the_umask(tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    previous = os.umask(0o027)
    try:
        build_report([FIXTURES / "results_small.json"], out)
    finally:
        os.umask(previous)
    for path in [out / "report.md", out / "report.html", *(out / FIGURES_DIR).iterdir()]:
        assert path.stat().st_mode & 0o777 == 0o640, path


# --- passwords in URLs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("mysql://rt2:se@cret@127.0.0.1:3306/db", "cret"),
        ("postgres://u:pw/with?odd#chars@127.0.0.1/db", "odd"),
        ("postgres://u@127.0.0.1/db?password=Hunter2", "Hunter2"),
        ("postgres://u@127.0.0.1/db?sslmode=require&sslpassword=Hunter2", "Hunter2"),
        ("postgres://postgres:Hunter2", "Hunter2"),
    ],
)
def test_mask_url_hides_whatever_sits_between_scheme_and_host(url: str, secret: str) -> None:
    assert secret not in mask_url(f"failed: {url} (x)")


def test_a_comma_in_a_target_list_password_stays_in_its_url() -> None:
    pg, my = parse_target_list("pg=postgres://postgres:Hun,ter2@127.0.0.1/db, my=mysql://root:a,b@127.0.0.1/db")
    assert (pg.password, my.password, my.host) == ("Hun,ter2", "a,b", "127.0.0.1")
    with pytest.raises(ConfigError) as caught:
        parse_target_list("pg=postgres://postgres:Hunter2,secretpart@127.0.0.1/bad-name!")
    assert "Hunter2" not in str(caught.value) and "secretpart" not in str(caught.value)


def test_a_query_password_is_the_password_and_never_printed(target: Target) -> None:
    """``?password=`` is taken as the password (it used to reach the driver twice: a TypeError with the URL)."""
    # The target's own URL without its password (a server that has one), the password as a query parameter.
    bare = f"{target.url.split('://', 1)[0]}://{target.user}@{target.host}:{target.port}/{target.database}"
    url = bare + "?password=Wr0ng-Secret-42"
    parsed = parse_target(target.name, url)
    assert parsed.password == "Wr0ng-Secret-42" and "password" not in parsed.options
    assert "Wr0ng-Secret-42" not in parsed.safe_url
    assert "Wr0ng-Secret-42" in parsed.with_database("other").password
    proc = run_cli("doctor", "--target", f"{target.name}={url}")
    assert "Wr0ng-Secret-42" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "TypeError" not in proc.stderr


def test_two_passwords_in_one_url_are_refused() -> None:
    with pytest.raises(ConfigError, match="two passwords") as caught:
        parse_target("pg", "postgres://u:First1@h/db?password=Second2")
    assert "First1" not in str(caught.value) and "Second2" not in str(caught.value)


def test_one_line_masks_a_secret_query_option() -> None:
    target = parse_target("pg", "postgres://u@h/db?sslpassword=KeyPass99")
    assert one_line(RuntimeError("bad key passphrase KeyPass99"), [target]) == "bad key passphrase ***"


# --- names ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "all"])
def test_reserved_target_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="reserved"):
        parse_target(name, "postgres://postgres@127.0.0.1/dbbench")
    proc = run_cli("doctor", "--target", f"{name}=mysql://root@127.0.0.1:3306/dbbench")
    assert proc.returncode == 2 and proc.stderr.startswith("dbbench: error: bad target name")


def test_a_63_character_database_name_is_accepted_and_64_says_why_not() -> None:
    assert parse_target("pg", "postgres://h/" + "d" * 63).database == "d" * 63
    with pytest.raises(ConfigError, match="at most 63 characters"):
        parse_target("pg", "postgres://h/" + "d" * 64)


# --- foreign tables -------------------------------------------------------------------------------------------


def test_a_table_the_user_cannot_see_still_makes_the_database_foreign(target: Target) -> None:
    """PostgreSQL: a role that owns the database but has no privilege on another role's table in it."""
    if target.family != "postgresql":
        pytest.skip("MariaDB lists every table a user has any privilege on, and connecting to a database needs one")
    database = f"{target.database}_f{uuid.uuid4().hex[:8]}"
    with scratch_user(target, createdb=True) as (role, password):
        try:
            admin_sql(target, f"CREATE DATABASE {database} OWNER {role}")
            private = "CREATE SCHEMA private; CREATE TABLE private.payroll (id int)"
            admin_sql(target, f"{private}; REVOKE ALL ON SCHEMA private FROM PUBLIC", database)
            mine = parse_target(target.name, url_for(target, role, password, database))
            with pytest.raises(ForeignDatabaseError, match="payroll"):
                ensure_database(mine)
            assert drop_database(mine) is False
            proc = run_cli("seed", "--attempts", "1k", "--target", f"pg={mine.url}")
            assert proc.returncode == 2 and "payroll" in proc.stderr
        finally:
            admin_sql(target, f"DROP DATABASE IF EXISTS {database}")


# --- the quiz site (issue 20, case 10) -----------------------------------------------------------------------

_SITE_SNIPPET = """
import django
django.setup()
from django.conf import settings
from django.test import Client
print("KEY", settings.SECRET_KEY)
response = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1").get("/health/")
print("STATUS", response.status_code)
"""


def _site_process(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DBBENCH_", "DJANGO_"))}
    full.update({"DJANGO_SETTINGS_MODULE": "dbbench.settings.all", **env})
    return subprocess.run(
        [sys.executable, "-c", _SITE_SNIPPET], env=full, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_site_logs_its_500s_to_stderr_and_generates_its_secret_key() -> None:
    down = {"DBBENCH_TARGETS": "down=postgres://postgres@127.0.0.1:1/dbbench_nowhere"}
    first, second = _site_process(down), _site_process(down)
    assert "STATUS 500" in first.stdout
    # What gunicorn's error log captures: Django's own line and the cause, not silence.
    assert "Internal Server Error: /health/" in first.stderr and "OperationalError" in first.stderr
    keys = [line.split()[1] for p in (first, second) for line in p.stdout.splitlines() if line.startswith("KEY")]
    assert len(keys) == 2 and keys[0] != keys[1] and all(len(k) >= 50 for k in keys)
    assert "dbbench-local-benchmark-key" not in first.stdout
    given = _site_process({**down, "DBBENCH_SECRET_KEY": "k" * 60})
    assert f"KEY {'k' * 60}" in given.stdout


@pytest.mark.parametrize("address", ["0.0.0.0", "192.0.2.10", "::"])
def test_load_refuses_to_listen_beyond_loopback_without_remote_workers(address: str, tmp_path: Path) -> None:
    result = run_cli("load", "--quick", "--listen", address, "--output", str(tmp_path / "load.json"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "open to the network" in result.stderr
    assert list(tmp_path.iterdir()) == []
