"""``dbbench app``: a project's own test suite on each backend, against the sample projects in fixtures/.

The shop sample passes on PostgreSQL and breaks on MariaDB for three known reasons (a case-variant unique value,
a sliced subquery inside ``__in``, JSON number equality), and has one test that fails on both. The envdb sample
chooses its databases through its own environment variables, two aliases, and a conftest that forces its own
``DJANGO_SETTINGS_MODULE``. Real open-source apps are not run here (they come from the network).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dbbench.app import compare, detect, render
from dbbench.errors import ConfigError
from tests.helpers import FIXTURES, TARGETS, run_cli

APPS = FIXTURES / "app_projects"
PG = next((t for t in TARGETS if t.family == "postgresql"), None)
MY = next((t for t in TARGETS if t.family == "mysql"), None)
needs_both = pytest.mark.skipif(PG is None or MY is None, reason="needs a PostgreSQL and a MySQL-family target")


def _targets(*targets: object) -> list[str]:
    return [arg for t in targets for arg in ("--target", f"{t.name}={t.url}")]  # type: ignore[attr-defined]


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
        ("shop/settings.py", (), "the project needs 'shop_payments_h15', which is not installed"),
        ("catalog/tests.py", ("--test-command", "python -m pytest catalog/tests.py"), "crashed on import"),
    ],
)
def test_bad_projects_are_one_line(tmp_path: Path, change: str | None, args: tuple, expected: str) -> None:
    project = tmp_path / "shop"
    shutil.copytree(APPS / "shop", project)
    if change == "catalog/tests.py":
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
    proc, data = _app(APPS / "glossary", tmp_path / "app.json", "--no-audit", *extra)
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
