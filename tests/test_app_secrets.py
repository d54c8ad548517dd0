"""``dbbench app`` never shows or stores the target's password, even when the project's own tests put it in a
failure message or a recorded SQL parameter (console, app.json)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dbbench.backends.targets import Target
from tests.helpers import FIXTURES, TARGETS, run_cli, scratch_user, url_for

pytestmark = pytest.mark.slow
PG = next((t for t in TARGETS if t.family == "postgresql"), None)
SECRET = "Leak3d-Pw&x"
ENCODED = "Leak3d-Pw%26x"
LEAKY_TEST = """

class ZLeak(TestCase):
    def test_leaks_the_password(self):
        from django.conf import settings
        from django.db import connection

        password = settings.DATABASES["default"]["PASSWORD"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s = 'x'", [password])
        self.assertEqual("\\x1b]8;;https://x.invalid\\x07" + password, "nope")
"""


@pytest.mark.skipif(PG is None, reason="needs a PostgreSQL target")
def test_app_masks_the_password_in_messages_and_sql_parameters(tmp_path: Path) -> None:
    assert isinstance(PG, Target)
    project = tmp_path / "shop"
    shutil.copytree(FIXTURES / "app_projects" / "shop", project)
    tests = project / "catalog" / "tests.py"
    tests.write_text(tests.read_text() + LEAKY_TEST)
    with scratch_user(PG, createdb=True, password=SECRET) as (user, _):
        url = url_for(PG, user, SECRET, f"{user}_app")
        out = tmp_path / "app.json"
        proc = run_cli("app", str(project), "--target", f"pg={url}", "--output", str(out), "--no-audit")
    shown = proc.stdout + proc.stderr + (out.read_text() if out.exists() else "")
    assert out.exists() and "test_leaks_the_password" in shown, proc.stderr
    assert SECRET not in shown and ENCODED not in shown
    assert "\x1b" not in shown and "\\u001b" not in shown  # L1: no terminal escapes from a test's message
