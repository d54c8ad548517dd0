"""``dbbench app`` against a hostile project (one run on PostgreSQL, checked by several tests): its own tests put
the password in a failure message and a recorded SQL parameter, print terminal escapes, connect with
``DATABASE_URL`` by hand, leave a process running, and declare aliases that share their first 16 characters."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from tests.helpers import FIXTURES, TARGETS, run_cli, scratch_user, url_for

pytestmark = pytest.mark.slow
PG = next((t for t in TARGETS if t.family == "postgresql"), None)
SECRET = "Leak3d-Pw&x"
ENCODED = "Leak3d-Pw%26x"
HOSTILE_TESTS = """

class ZHostile(TestCase):
    def test_leaks_the_password(self):
        from django.conf import settings
        from django.db import connection

        password = settings.DATABASES["default"]["PASSWORD"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s = 'x'", [password])
        self.assertEqual("\\x1b]8;;https://x.invalid\\x07" + password, "nope")

    def test_database_url_names_a_scratch_database(self):
        import os
        from urllib.parse import urlsplit

        self.assertTrue(urlsplit(os.environ["DATABASE_URL"]).path.startswith("/dbbench_app_"))

    def test_leaves_a_process_running(self):
        import subprocess
        from pathlib import Path

        proc = subprocess.Popen(["sleep", "300"])
        (Path(__file__).parent.parent / "leftover.pid").write_text(str(proc.pid))
"""
LONG_ALIASES = """
DATABASES["analytics_warehouse_eu"] = dict(DATABASES["default"])
DATABASES["analytics_warehouse_us"] = dict(DATABASES["default"])
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The project, the command's output and its app.json, after one run."""
    if PG is None:
        pytest.skip("needs a PostgreSQL target")
    tmp = tmp_path_factory.mktemp("hostile")
    project = tmp / "shop"
    shutil.copytree(FIXTURES / "app_projects" / "shop", project)
    tests = project / "catalog" / "tests.py"
    tests.write_text(tests.read_text() + HOSTILE_TESTS)
    settings = project / "shop" / "settings.py"
    settings.write_text(settings.read_text() + LONG_ALIASES)
    out = tmp / "app.json"
    with scratch_user(PG, createdb=True, password=SECRET) as (user, _):
        url = url_for(PG, user, SECRET, f"{user}_app")
        proc = run_cli("app", str(project), "--target", f"pg={url}", "--output", str(out), "--no-audit")
    leftover = project / "leftover.pid"
    try:
        yield {"proc": proc, "out": out, "project": project, "data": json.loads(out.read_text())["data"]}
    finally:
        if leftover.exists():  # ended by dbbench (checked below); on a dbbench that failed to, by the test
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(int(leftover.read_text()))
                if "sleep" in process.cmdline():
                    process.kill()


def _outcome(data: dict[str, Any], name: str) -> str:
    (run,) = data["runs"]
    return next(t["outcome"] for test_id, t in run["tests"].items() if test_id.endswith(name))


def test_app_masks_the_password_in_messages_and_sql_parameters(hostile: dict[str, Any]) -> None:
    proc = hostile["proc"]
    shown = proc.stdout + proc.stderr + hostile["out"].read_text()
    assert "test_leaks_the_password" in shown, proc.stderr
    assert SECRET not in shown and ENCODED not in shown
    assert "\x1b" not in shown and "\\u001b" not in shown  # L1: no terminal escapes from a test's message


def test_database_url_points_at_the_scratch_test_database(hostile: dict[str, Any]) -> None:
    assert _outcome(hostile["data"], "test_database_url_names_a_scratch_database") == "passed"  # M5


def test_processes_the_suite_left_running_are_ended(hostile: dict[str, Any]) -> None:
    pid = int((hostile["project"] / "leftover.pid").read_text())  # M6
    try:
        process = psutil.Process(pid)
        assert process.status() == psutil.STATUS_ZOMBIE or "sleep" not in process.cmdline(), "left running"
    except psutil.NoSuchProcess:
        pass


def test_long_aliases_get_test_databases_of_their_own(hostile: dict[str, Any]) -> None:
    (run,) = hostile["data"]["runs"]  # L14
    names = {alias: d["name"] for alias, d in run["start"]["databases"].items()}
    assert len(names) == 3 and len(set(names.values())) == 3, names
