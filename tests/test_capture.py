"""dbbench capture: shapes, counts and time for every statement, a sample of instances, private files.

The recorder patches Django process-wide, so every capture here runs in a subprocess (the way a user runs it);
the tests that need no server record a SQLite database.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from dbbench.capture import capfile
from tests.helpers import ROOT, run_cli

SECRET = "zz-secret-value-42"

# A Django process on SQLite (no server): ORM reads and writes, a raw statement, a value that must stay private.
SCRIPT = f"""
import django
from django.conf import settings

settings.configure(
    DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}},
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
)
django.setup()
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection

call_command("migrate", verbosity=0)


def lookups():
    for i in range(10):
        list(Group.objects.filter(name="{SECRET}"))
        Group.objects.filter(pk=i).exists()


lookups()
with connection.cursor() as cursor:
    cursor.execute("SELECT %s", ["{SECRET}"])
"""


def _capture(tmp_path: Path, *extra: str) -> tuple[dict, Path, str]:
    script = tmp_path / "app_script.py"
    script.write_text(SCRIPT)
    out = tmp_path / "cap.json"
    proc = run_cli("capture", "--output", str(out), *extra, "--", "python", str(script))
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())["data"], out, proc.stdout + proc.stderr


@pytest.mark.nodb
def test_capture_keeps_counts_time_and_a_sample(tmp_path: Path) -> None:
    data, out, output = _capture(tmp_path, "--keep", "3")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    by_sql = {s["sql"]: s for s in data["shapes"]}
    name_lookup = next(s for sql, s in by_sql.items() if '"auth_group"."name" = %s' in sql)
    assert name_lookup["source"] == "orm" and name_lookup["model"] == "auth.Group" and name_lookup["kind"] == "select"
    # Counted every time, kept 3 times.
    assert name_lookup["count"] == 10 and len(name_lookup["instances"]) == 3 and name_lookup["seconds"] > 0
    site = name_lookup["instances"][0]["site"]
    assert site.endswith("in lookups") and "app_script.py:" in site  # the app's own frame, not Django's
    raw = by_sql["SELECT %s"]
    assert raw["source"] == "raw" and raw["count"] == 1
    # Migrations ran in the same process: their DDL is recorded as raw "other" statements, never replayed.
    assert data["django"] and data["project"] == capfile.QUIZ_PROJECT
    kept = pickle.loads(base64.b64decode(raw["instances"][0]["params"]))
    assert list(kept) == [SECRET]  # the values are kept (pickled) for the replay...
    assert SECRET not in output  # ...and never printed


@pytest.mark.nodb
def test_no_params_keeps_no_values(tmp_path: Path) -> None:
    data, out, _ = _capture(tmp_path, "--no-params")
    assert SECRET not in out.read_text()
    assert not data["params"]
    for shape in data["shapes"]:
        assert shape["count"] >= 1
        for instance in shape["instances"]:
            assert "params" not in instance and "query" not in instance


@pytest.mark.nodb
def test_capture_bad_input_is_one_line(tmp_path: Path) -> None:
    no_command = run_cli("capture", "--output", str(tmp_path / "c.json"))
    missing = run_cli("capture", "--output", str(tmp_path / "c.json"), "--", "no-such-program-dbbench")
    nothing = run_cli("capture", "--output", str(tmp_path / "c.json"), "--", "python", "-c", "print(1)")
    bad_dir = run_cli("capture", "--output", str(tmp_path / "nope" / "c.json"), "--", "true")
    for proc in (no_command, missing, nothing, bad_dir):
        assert proc.returncode != 0
        assert proc.stderr.startswith("dbbench: error:") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "c.json").exists()


MIDDLEWARE_SCRIPT = """
import os, sys
import django
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    DBBENCH_CAPTURE={"dir": sys.argv[1], "sample": float(sys.argv[2]), "params": False},
    BASE_DIR="/srv/shop",
    SETTINGS_MODULE="shop.settings",
)
django.setup()
from django.contrib.auth.models import Group
from django.core.management import call_command

call_command("migrate", verbosity=0)
from django.db.backends import utils
from django.db.models.sql import compiler

from dbbench.capture.middleware import CaptureMiddleware

DJANGOS = (compiler.SQLCompiler.execute_sql, utils.CursorWrapper._execute_with_wrappers)
patched = []


def view(request):
    patched.append((compiler.SQLCompiler.execute_sql, utils.CursorWrapper._execute_with_wrappers) != DJANGOS)
    return Group.objects.filter(pk=request).count()


middleware = CaptureMiddleware(view)
for i in range(200):
    middleware(i)
# Django's own methods between requests: one that is not drawn pays nothing for the capture.
assert (compiler.SQLCompiler.execute_sql, utils.CursorWrapper._execute_with_wrappers) == DJANGOS
Group.objects.count()  # outside a request: not recorded
print(sum(patched))
"""


@pytest.mark.nodb
def test_middleware_records_a_sample_of_requests(tmp_path: Path) -> None:
    script = tmp_path / "staging.py"
    script.write_text(MIDDLEWARE_SCRIPT)
    counts = {}
    for sample in ("1.0", "0.1"):
        parts = tmp_path / f"parts{sample}"
        parts.mkdir()
        proc = __import__("subprocess").run(
            [sys.executable, str(script), str(parts), sample],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        drawn = int(proc.stdout.split()[-1])  # requests that ran with Django's methods patched
        out = tmp_path / f"staging{sample}.json"
        merged = run_cli("capture", "--from-dir", str(parts), "--output", str(out))
        assert merged.returncode == 0, merged.stderr
        data = json.loads(out.read_text())["data"]
        assert data["project"] == {"name": "shop", "settings": "shop.settings"}
        counts[sample] = {s["sql"]: s["count"] for s in data["shapes"]}
        assert sum(counts[sample].values()) == drawn  # patched exactly while a drawn request ran
    everything = counts["1.0"]
    assert len(everything) == 1 and next(iter(everything.values())) == 200  # the request's query only
    sampled = next(iter(counts["0.1"].values()))
    assert 5 <= sampled <= 60  # ~20 of 200 requests drawn


@pytest.mark.nodb
def test_sitecustomize_is_valid_python() -> None:
    from dbbench.capture.command import SITECUSTOMIZE

    compile(textwrap.dedent(SITECUSTOMIZE), "sitecustomize.py", "exec")


def test_app_capture_records_the_suite_on_the_baseline(tmp_path: Path) -> None:
    """``dbbench app --capture``: the shop sample's tests, their queries with call sites in the tests, without
    the test database's set-up (CREATE DATABASE, migrations), labelled with the project."""
    from tests.helpers import FIXTURES, TARGETS

    base = TARGETS[0]
    cap = tmp_path / "shop.capture.json"
    proc = run_cli(
        "app",
        str(FIXTURES / "app_projects" / "shop"),
        "--target",
        f"{base.name}={base.url}",
        "--output",
        str(tmp_path / "app.json"),
        "--capture",
        str(cap),
    )
    assert proc.returncode in (0, 1), proc.stderr  # the sample has a test that fails everywhere
    assert stat.S_IMODE(cap.stat().st_mode) == 0o600
    data = json.loads(cap.read_text())["data"]
    assert data["project"] == {"name": "shop", "settings": "shop.settings"}
    sites = {i["site"].split(":")[0] for s in data["shapes"] for i in s["instances"]}
    assert sites == {"catalog/tests.py"}, sites  # relative to the project, no set-up from manage.py
    assert not [s for s in data["shapes"] if s["kind"] == "other"]  # no CREATE/ALTER/DROP
    assert {s["model"] for s in data["shapes"]} >= {"catalog.Product", "catalog.Tag"}


def test_merge_draws_instances_in_proportion_to_each_process_statements() -> None:
    """Two workers saw one shape 990 and 10 times; the merged sample stands for all 1,000 statements, so nearly
    all of it comes from the busy worker (taking the first part's instances would give the idle one's half)."""

    def part(pid: int, count: int) -> dict:
        instances = [{"seconds": 0.001, "site": f"worker{pid}", "params": None} for _ in range(10)]
        shape = {"vendor": "postgresql", "sql": "SELECT 1", "count": count, "seconds": count / 1e3}
        return {"started": 1.0, "ended": 2.0, "keep": 10, "shapes": [dict(shape, instances=instances)]}

    merged = capfile.merge([part(1, 10), part(2, 990)])
    (shape,) = merged["shapes"]
    assert shape["count"] == 1000 and len(shape["instances"]) == 10
    assert sum(i["site"] == "worker2" for i in shape["instances"]) >= 8
    assert capfile.merge([part(1, 10), part(2, 990)]) == merged  # seeded: the same parts, the same capture


UNINSTALL = """
import tempfile
import django
from django.conf import settings

settings.configure(DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})
django.setup()
from django.db.backends import utils
from django.db.models.sql import compiler
from dbbench.capture import hook

before = (utils.CursorWrapper._execute_with_wrappers, compiler.SQLCompiler.execute_sql)
with tempfile.TemporaryDirectory() as tmp:
    recorder = hook.install({"dir": tmp})
    assert utils.CursorWrapper._execute_with_wrappers is not before[0]
    assert hook.uninstall() is recorder and not recorder.active
after = (utils.CursorWrapper._execute_with_wrappers, compiler.SQLCompiler.execute_sql)
assert after == before, "uninstall left a patch"
print("restored")
"""


def test_uninstall_restores_django() -> None:
    """A process that records a while and then measures (scripts/replay_consistency.py) gets Django back as it was."""
    import subprocess

    proc = subprocess.run([sys.executable, "-c", UNINSTALL], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "restored", proc.stderr
