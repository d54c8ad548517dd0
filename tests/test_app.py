"""``dbbench app``: a project's own test suite on each backend, against the sample projects in fixtures/.

The shop sample passes on PostgreSQL and breaks on MariaDB for three known reasons (a case-variant unique value,
a sliced subquery inside ``__in``, JSON number equality), and has one test that fails on both. The envdb sample
chooses its databases through its own environment variables, two aliases, and a conftest that forces its own
``DJANGO_SETTINGS_MODULE``. Real open-source apps are not run here (they come from the network).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbbench.app import compare, detect, hints, render
from dbbench.errors import ConfigError
from tests.helpers import FIXTURES, TARGETS, run_cli

APPS = FIXTURES / "app_projects"
PG = next((t for t in TARGETS if t.family == "postgresql"), None)
MY = next((t for t in TARGETS if t.family == "mysql"), None)
needs_both = pytest.mark.skipif(PG is None or MY is None, reason="needs a PostgreSQL and a MySQL-family target")


def _targets(*targets: object) -> list[str]:
    return [arg for t in targets for arg in ("--target", f"{t.name}={t.url}")]  # type: ignore[attr-defined]


def _tree(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with its content's hash: the project must be byte-for-byte unchanged."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
        if not p.is_symlink()
    }


def _app(path: Path, out: Path, *extra: str, targets: tuple = (PG, MY)) -> tuple:
    proc = run_cli("app", str(path), *_targets(*targets), "--output", str(out), *extra)
    data = json.loads(out.read_text())["data"] if out.exists() else None
    return proc, data


# --- detection and explanations (no database) --------------------------------------------------------------


@pytest.mark.nodb
def test_detects_settings_and_runner_of_both_samples() -> None:
    shop = detect.detect(APPS / "shop")
    assert (shop.settings, shop.runner, shop.settings_source) == ("shop.settings", "django", "manage.py")
    envdb = detect.detect(APPS / "envdb")
    assert (envdb.settings, envdb.runner, envdb.settings_source) == ("envdb_site.settings", "pytest", "conftest.py")
    assert detect.detect(APPS / "shop", test_command="python -m pytest -x").runner == "pytest"


@pytest.mark.nodb
def test_a_folder_that_is_no_django_project_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "tool.py").write_text("print('hello')\n")
    with pytest.raises(ConfigError, match="is not a Django project"):
        detect.detect(tmp_path)
    proc = run_cli("app", str(tmp_path), "--output", str(tmp_path / "app.json"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a Django project" in proc.stderr
    assert not (tmp_path / "app.json").exists()


@pytest.mark.nodb
@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("(1062, \"Duplicate entry 'apple' for key 'name'\")", "str_unique_case"),
        ("(1062, \"Duplicate entry 'résumé' for key 'name'\")", "str_unique_accent"),
        (
            "(1235, \"This version of MariaDB doesn't yet support 'LIMIT & IN/ALL/ANY/SOME subquery'\")",
            "in_sliced_subquery",
        ),
        ("DISTINCT ON fields is not supported by this database backend", "distinct_on"),
        ("(1213, 'Deadlock found when trying to get lock')", None),
    ],
)
def test_errors_are_matched_to_known_differences(message: str, expected: str | None) -> None:
    found = compare.explain({"type": "IntegrityError", "message": message}, [])
    assert (found["id"] if found else None) == expected


@pytest.mark.nodb
def test_a_wrong_answer_is_explained_only_by_its_sql() -> None:
    error = {"type": "AssertionError", "message": "0 != 1"}
    json_sql = {
        "sql": "SELECT 1 FROM t WHERE JSON_UNQUOTE(JSON_EXTRACT(`a`, %s)) = JSON_EXTRACT(%s, '$')",
        "params": '["$.\\"w\\"", "1"]',
    }
    assert compare.explain(error, [json_sql])["id"] == "json_key_int_vs_float"
    text_sql = dict(json_sql, params='["$.\\"w\\"", "\\"kg\\""]')  # a string compared: no number involved
    assert compare.explain(error, [text_sql]) is None
    assert compare.explain(error, []) is None


def test_known_differences_name_real_parity_probes() -> None:
    from dbbench.parity.probes import catalogue

    names = {p.name for p in catalogue()}
    assert {k.id for k in compare.KNOWN if k.probe} <= names
    assert not {k.id for k in compare.KNOWN if not k.probe} & names


@pytest.mark.nodb
def test_audit_findings_near_the_failing_frame_are_joined(tmp_path: Path) -> None:
    error = {"frames": [[str(tmp_path / "app" / "models.py"), 40], ["/usr/lib/python3/unittest/case.py", 57]]}
    findings = [
        {"file": "app/models.py", "line": 43, "rule": "r1"},
        {"file": "app/models.py", "line": 90, "rule": "r2"},
        {"file": "other.py", "line": 40, "rule": "r3"},
    ]
    assert [f["rule"] for f in compare.near_findings(error, findings, tmp_path)] == ["r1"]


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.nodb
def test_detects_tests_manage_py_next_to_the_package(tmp_path: Path) -> None:
    manage = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_project.settings")\n'
    files = {"tests/manage.py": manage, "tests/test_project/__init__.py": "", "tests/test_project/settings.py": ""}
    _write(tmp_path, {**files, "tests/settings.py": "", "reversion/__init__.py": ""})
    found = detect.detect(tmp_path)
    assert (found.settings, found.settings_source, found.runner) == (
        "test_project.settings",
        "tests/manage.py",
        "django",
    )
    assert found.cwd == tmp_path / "tests" and found.pythonpath[0] == tmp_path / "tests"
    assert found.root == tmp_path  # the project stays the project: its name and its audit
    assert detect.detect(tmp_path / "tests").root == tmp_path / "tests"  # pointed at tests/: as given


@pytest.mark.nodb
@pytest.mark.parametrize(
    ("file", "text", "settings", "runner", "path"),
    [
        ("Makefile", "test:\n\tPYTHONPATH=.:tests django-admin test --settings=settings\n",
         "settings", "django", "tests"),
        ("tox.ini", "[testenv]\ncommands = pytest\nsetenv =\n    PYTHONPATH = {toxinidir}/tests\n"
         "    DJANGO_SETTINGS_MODULE = settings\n", "settings", "django", "tests"),
        ("noxfile.py", 'session.run("python", "-m", "django", "test", "--settings=settings",\n'
         '            env={"PYTHONPATH": "tests"})\n', "settings", "django", "tests"),
        (".github/workflows/ci.yml", "env:\n  PYTHONPATH: ${{ github.workspace }}/tests\nsteps:\n"
         "  - run: pytest --ds=settings\n", "settings", "pytest", "tests"),
    ],
)  # fmt: skip
def test_detects_settings_and_path_set_by_command_files(
    tmp_path: Path, file: str, text: str, settings: str, runner: str, path: str
) -> None:
    _write(tmp_path, {file: text, "tests/settings.py": "", "tests/test_app/__init__.py": "", "app/__init__.py": ""})
    found = detect.detect(tmp_path)
    assert (found.settings, found.settings_source, found.runner) == (settings, file, runner)
    assert tmp_path / path in found.pythonpath


@pytest.mark.nodb
def test_detects_a_runtests_script_that_configures_settings_in_code() -> None:
    found = detect.detect(APPS / "bookmarks")
    assert (found.settings, found.script, found.runner) == ("", APPS / "bookmarks" / "runtests.py", "django")
    assert found.settings_source == "runtests.py (settings.configure)"


@pytest.mark.nodb
def test_project_virtualenv_and_python_option(tmp_path: Path) -> None:
    project = _write(tmp_path / "p", {"manage.py": 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "s")', "s.py": ""})
    assert detect.detect(project).python == sys.executable
    venv = project / "venv" / "bin"
    venv.mkdir(parents=True)
    os.symlink(sys.executable, venv / "python")
    assert detect.detect(project).python == str(venv / "python")
    with pytest.raises(ConfigError, match="--python /nonexistent/python: no such interpreter"):
        detect.detect(project, python="/nonexistent/python")


@pytest.mark.nodb
def test_hints_name_the_distribution_and_the_interpreter(tmp_path: Path) -> None:
    project = detect.Project(tmp_path, "s", "django", python="/opt/p/bin/python")
    assert "(distribution django-environ)" in hints.missing_module("environ", project)
    assert "`/opt/p/bin/python -m pip install django-environ`" in hints.missing_module("environ", project)
    assert "distribution Django" in hints.missing_module("django.conf", project)
    _write(tmp_path, {"pyproject.toml": '[project]\nname = "django-shelf"\n', "tests/test_app/__init__.py": ""})
    assert "-m pip install -e " in hints.missing_module("django_shelf", project)  # the project itself
    assert "pass --pythonpath tests" in hints.missing_module("test_app.models", project)


# --- real servers ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@needs_both
def test_shop_breaks_on_the_mysql_family_for_known_reasons(tmp_path: Path) -> None:
    proc, data = _app(APPS / "shop", tmp_path / "app.json")
    assert proc.returncode == 1, proc.stderr  # a break: exit 1, for CI
    base, cand = data["runs"]
    assert base["counts"] == {"failed": 1, "passed": 6} and len(cand["tests"]) == 7
    comp = data["comparisons"][0]
    why = {b["test"].rsplit(".", 1)[-1]: (b["explanation"] or {}).get("id") for b in comp["breaks"]}
    assert why == {
        "test_tags_differ_by_case": "str_unique_case",
        "test_latest_products": "in_sliced_subquery",
        "test_json_number_equality": "json_key_int_vs_float",
    }
    assert [f["test"].rsplit(".", 1)[-1] for f in comp["already_failing"]] == ["test_discount_rounds"]
    assert comp["passes_on_both"] == 3 and comp["time_ratio"] > 0
    assert "BREAKS on MariaDB" in proc.stdout or "BREAKS on MySQL" in proc.stdout
    section = render.render_section(data)
    assert section.startswith("## Your project") and "`str_unique_case`" in section
    assert not [p for p in (APPS / "shop").rglob("*") if p.name == "__pycache__" or p.suffix == ".sqlite3"]


@pytest.mark.slow
@needs_both
def test_env_var_project_with_two_aliases_runs_on_each_server(tmp_path: Path) -> None:
    proc, data = _app(APPS / "envdb", tmp_path / "app.json")
    assert proc.returncode == 0, proc.stderr
    assert data["runner"] == "pytest"
    for run in data["runs"]:
        # test_both_aliases_use_a_server fails when the project falls back to its own SQLite settings.
        assert run["counts"] == {"passed": 4}
        assert set(run["start"]["databases"]) == {"default", "archive"}
        assert all(d["name"].startswith("dbbench_app_") for d in run["start"]["databases"].values())
    assert data["comparisons"][0]["breaks"] == []


@pytest.mark.slow
@needs_both
def test_a_hanging_suite_is_stopped_and_its_partial_results_kept(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    shutil.copytree(APPS / "shop", project)
    tests = project / "catalog" / "tests.py"
    tests.write_text(
        tests.read_text() + "\n\nclass ZHang(TestCase):\n    def test_hangs(self):\n"
        "        import time\n\n        time.sleep(600)\n"
    )
    proc, data = _app(project, tmp_path / "app.json", "--timeout", "8", targets=(MY,))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "did not finish within 8 s" in proc.stderr
    (run,) = data["runs"]
    assert run["timed_out"] and run["stopped_during"].endswith("ZHang.test_hangs")
    assert len(run["tests"]) == 7  # the tests before the hang are kept
    assert run["leftover_databases_dropped"]  # Django never got to drop its test database: dbbench did
    from dbbench.backends.database import is_owned  # noqa: F401 - the name is gone from the server:

    with MY.spec.connection(MY, None) as conn:
        cur = conn.cursor()
        cur.execute(MY.spec.database_exists_sql(), (run["leftover_databases_dropped"][0],))
        assert cur.fetchone() is None


@pytest.mark.slow
@needs_both
@pytest.mark.parametrize(
    ("change", "args", "expected"),
    [
        (None, ("--settings", "shop.nosuch"), "settings module 'shop.nosuch' cannot be imported"),
        ("shop/settings.py", (), "the project needs 'shop_payments_h15' (distribution shop_payments_h15)"),
        ("catalog/tests.py", ("--test-command", "python -m pytest catalog/tests.py"), "crashed on import"),
        ("catalog/tests.py", (), "No module named 'shop_payments_h15'; the project needs 'shop_payments_h15' (dist"),
    ],
)
def test_bad_projects_are_one_line(tmp_path: Path, change: str | None, args: tuple, expected: str) -> None:
    project = tmp_path / "shop"
    shutil.copytree(APPS / "shop", project)
    if change == "catalog/tests.py" and args:
        (project / "pytest.ini").write_text("[pytest]\nDJANGO_SETTINGS_MODULE = shop.settings\n")
    if change:
        file = project / change
        file.write_text("import shop_payments_h15  # noqa: F401\n" + file.read_text())
    proc, _ = _app(project, tmp_path / "app.json", *args, targets=(MY,))
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("dbbench: error: app:") and expected in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
@needs_both
@pytest.mark.parametrize("command", [None, "python -m pytest terms/tests.py"], ids=["django-runner", "pytest"])
def test_a_test_database_mariadb_cannot_build_is_one_setup_finding(tmp_path: Path, command: str | None) -> None:
    extra = ("--test-command", command) if command else ()
    before = _tree(APPS / "glossary")
    proc, data = _app(APPS / "glossary", tmp_path / "app.json", "--no-audit", *extra)
    assert _tree(APPS / "glossary") == before
    assert proc.returncode == 1, proc.stderr  # the move breaks the test database: exit 1, for CI
    base, cand = data["runs"]
    assert base["counts"] == {"passed": 3}  # the baseline's results are kept
    (comp,) = data["comparisons"]
    (finding,) = comp["setup_findings"]
    assert (finding["migration"], finding["model"], finding["field"]) == ("terms.0001_initial", "terms.Term", "slug")
    assert "(1170, " in finding["error"] and finding["explanation"]["id"] == "ddl_text_key"
    assert comp["breaks"] == []  # the tests it kept from running are "not run", not breaks
    # Django's runner stops before any test; pytest still runs the one test that needs no database.
    not_run = 3 if command is None else 2
    assert len(comp["not_run_on_candidate"]) == not_run and cand["counts"]["not_run"] == not_run
    assert comp["tests_compared"] + not_run == comp["totals"]["baseline"] == 3
    assert "SET-UP FAILS on MariaDB" in proc.stdout and "field slug" in proc.stdout
    section = render.render_section(data)
    assert "model terms.Term, field slug" in section and "CharField with a max_length" in section
    # The app result read on its own: a verdict that says what breaks and what to fix, no empty benchmark sections.
    report = run_cli("report", str(tmp_path / "app.json"))
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "report.md").read_text()
    assert "No verdict" not in text and "breaks it: 1 set-up failure" in text
    assert "What to fix first" in text and "model terms.Term, field slug" in text and "ran on both" in text
    assert "## What was measured" not in text and "## Your project" in text


@pytest.mark.slow
@needs_both
def test_settings_built_in_code_and_coverage_that_adds_up(tmp_path: Path) -> None:
    """runtests.py calls settings.configure(SQLite): dbbench runs the script with the databases pointed at each
    server. A test class defined only on PostgreSQL and a test the suite skips on MariaDB are counted apart; a
    fixture MariaDB cannot load (two tags that differ in case) is one set-up finding, its class "not run"."""
    before = _tree(APPS / "bookmarks")
    proc, data = _app(APPS / "bookmarks", tmp_path / "app.json")
    assert proc.returncode == 1, proc.stderr
    assert _tree(APPS / "bookmarks") == before
    base, cand = data["runs"]
    assert base["counts"] == {"passed": 5} and cand["counts"] == {"not_run": 1, "passed": 2, "skipped": 1}
    (comp,) = data["comparisons"]
    assert [t.rsplit(".", 1)[-1] for t in comp["only_on_baseline"]] == ["test_ilike"]
    (skip,) = comp["skipped_only_on_candidate"]
    assert skip["test"].endswith("test_partial_index") and "supports_partial_indexes" in skip["reason"]
    (finding,) = comp["setup_findings"]
    assert finding["fixture"] == "tags.json" and finding["test_class"].endswith("TagFixtureTests")
    assert "(1062, " in finding["error"] and finding["explanation"]["id"] == "str_unique_case"
    assert comp["breaks"] == [] and [t.rsplit(".", 1)[-1] for t in comp["not_run_on_candidate"]] == [
        "test_both_spellings_are_tags"
    ]
    cov = comp["coverage"]
    assert sum(cov.values()) == 5 == comp["totals"]["baseline"]  # every test in exactly one group
    assert comp["tests_compared"] + cov["only_on_baseline"] + cov["not_run_on_candidate"] == 5
    assert comp["tests_compared"] + cov["only_on_candidate"] + cov["not_run_on_candidate"] == 4
    assert "1 exist only on PostgreSQL" in proc.stdout and "skipped only on MariaDB" in proc.stdout
    assert "fixture tags.json" in proc.stdout


def _isolated_venv(project: Path) -> Path:
    """``project/.venv`` with Django, pytest, pytest-django and the drivers, but not dbbench: made by linking
    those packages from dbbench's own environment into a folder its ``.pth`` file names (no network)."""
    import importlib.util

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(project / ".venv")], check=True)
    deps = project.parent / "deps"
    deps.mkdir()
    names = ["django", "asgiref", "sqlparse", "pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pytest_django"]
    names += ["MySQLdb", "psycopg", "psycopg_binary", "typing_extensions", "py", "pygments"]
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec and spec.origin:
            origin = Path(spec.origin)
            (deps / origin.parent.name if origin.name == "__init__.py" else deps / origin.name).symlink_to(
                origin.parent if origin.name == "__init__.py" else origin
            )
    # The libraries psycopg-binary bundles, and the metadata that gives versions (Django checks psycopg's).
    dists = ("django-", "asgiref-", "sqlparse-", "pytest-", "pluggy-", "iniconfig-", "packaging-", "mysqlclient-")
    dists += ("pytest_django-", "psycopg-", "psycopg_binary-", "typing_extensions-", "pygments-")
    for site in Path(sys.prefix).glob("lib/python3*/site-packages"):
        for extra in [*site.glob("psycopg_binary.libs"), *site.glob("*.dist-info")]:
            if extra.suffix == ".libs" or extra.name.lower().startswith(dists):
                (deps / extra.name).symlink_to(extra)
    site = next((project / ".venv" / "lib").glob("python3*/site-packages"))
    (site / "deps.pth").write_text(f"{deps}\n")
    return project / ".venv" / "bin" / "python"


@pytest.mark.slow
@needs_both
def test_runs_in_the_projects_own_virtualenv_and_changes_nothing(tmp_path: Path) -> None:
    project = tmp_path / "envdb"
    shutil.copytree(APPS / "envdb", project)
    python = _isolated_venv(project)
    assert subprocess.run([python, "-c", "import dbbench"], capture_output=True, cwd=tmp_path).returncode != 0
    before = _tree(project)
    proc, data = _app(project, tmp_path / "app.json", "--no-audit")
    assert proc.returncode == 0, proc.stderr
    assert data["python"] == str(python) and [r["counts"] for r in data["runs"]] == [{"passed": 4}] * 2
    assert _tree(project) == before  # no .benchmarks, no __pycache__, no .pytest_cache, in the venv neither
    # A requirement the project's environment lacks is named by its distribution, with that interpreter.
    (project / "envdb_site" / "settings.py").write_text(
        "import environ\n" + (project / "envdb_site" / "settings.py").read_text()
    )
    proc, _ = _app(project, tmp_path / "app2.json", "--no-audit", targets=(MY,))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"`{python} -m pip install django-environ`" in proc.stderr
