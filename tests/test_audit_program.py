"""``dbbench audit``, third round: the whole program (guards across modules, per-vendor lookups, setUp skips), SQL
read wherever Django takes it, branches whose other side fails, advice that exists, "start here" and ``--explain``.

The sample project ``fixtures/audit_projects/whole_program`` holds one case per pattern; its ``# audit:`` markers
are compared exactly by ``test_audit.test_sample_project_findings_match_its_markers``; the tests here check what
the markers cannot: the messages, the advice, the order of the report and the explanation.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from dbbench.audit import auditor, catalog, sql
from dbbench.audit.rules import BLOCKER, HANDLED, RULES
from dbbench.audit.scan import audit_path, render_text
from tests.helpers import FIXTURES, run_cli

pytestmark = pytest.mark.nodb

PROJECT = FIXTURES / "audit_projects" / "whole_program"


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return audit_path(PROJECT, json_notes={})


def _at(result, file: str, needle: str):  # type: ignore[no-untyped-def]
    lines = (PROJECT / file).read_text().splitlines()
    line = next(i for i, text in enumerate(lines, start=1) if needle in text)
    return [f for f in result.findings if f.file == file and f.line == line]


def test_a_guard_imported_from_another_module_is_followed_through_lazy(result) -> None:  # type: ignore[no-untyped-def]
    for needle in ("of=OF_SELF", "of=helpers.OF_SELF"):
        (finding,) = _at(result, "shop/views.py", needle)
        assert finding.severity == HANDLED
        assert "OF_SELF = lazy(" in finding.guard and "shop/db.py" in finding.why


def test_a_lookup_registered_per_vendor_is_the_projects_own(result) -> None:  # type: ignore[no-untyped-def]
    assert _at(result, "shop/views.py", "customer__search") == []  # not django.contrib.postgres' search
    assert _at(result, "shop/db.py", "MATCH (") == []  # registered only on MySQL: read as MySQL
    (pg,) = _at(result, "shop/db.py", "to_tsvector(")
    assert pg.severity == HANDLED and "register_lookup" in pg.why


def test_setup_and_setupclass_skips_guard_the_tests(result) -> None:  # type: ignore[no-untyped-def]
    (inherited,) = _at(result, "shop/tests/test_orders.py", 'distinct("customer")')
    assert inherited.severity == HANDLED and "setUpClass" in inherited.guard
    (own,) = _at(result, "shop/tests/test_orders.py", "no_key=True")
    assert own.severity == HANDLED and "setUp" in own.guard


def test_class_attribute_and_as_sql_sql_is_read(result) -> None:  # type: ignore[no-untyped-def]
    messages = {f.line: f.message for f in result.findings if f.file == "shop/functions.py"}
    text = " ".join(messages.values())
    for construct in ("host()", "text()", ">>=", "<<=", "#>"):
        assert construct in text, construct


def test_advisory_locks_in_a_conditional_comprehension_get_django_mysqls_lock(result) -> None:  # type: ignore[no-untyped-def]
    (finding,) = _at(result, "shop/views.py", "pg_advisory_xact_lock")
    assert "pg_advisory_xact_lock" in finding.message and "pg_advisory_xact_lock_shared" in finding.message
    assert "django_mysql.locks.Lock" in finding.instead


@pytest.mark.parametrize(("needle", "rewrite"), [("CAST(active", "CAST(active AS SIGNED)"), ("key, value", "`key`")])
def test_a_rewrite_that_changes_the_text_does_not_run_as_written(result, needle: str, rewrite: str) -> None:  # type: ignore[no-untyped-def]
    (finding,) = _at(result, "shop/views.py", needle)
    assert finding.severity == BLOCKER
    assert "does not run as written" in finding.message
    assert rewrite in finding.instead


def test_sql_sqlglot_only_normalises_is_not_a_finding() -> None:
    check = sql.check_sql("SELECT id, name FROM shop_flag WHERE id != %s ORDER BY name")
    assert check.portable, check.constructs


def test_settings_that_exit_on_mysql_lead_the_report(result) -> None:  # type: ignore[no-untyped-def]
    (finding,) = _at(result, "settings.py", "sys.exit")
    assert finding.severity == BLOCKER and "exits" in finding.message
    text = render_text(result.as_dict())
    assert text.index("START HERE") < text.index("settings.py:13") < text.index("BLOCKERS")
    start = text[text.index("START HERE") :]
    assert start.index("[vendor-refusal]") < start.index("[distinct-on]") < start.index("[select-for-update-of]")


def test_a_handled_branch_whose_other_side_fails_is_a_blocker(result) -> None:  # type: ignore[no-untyped-def]
    (distinct,) = _at(result, "shop/views.py", '.distinct("customer")')
    assert distinct.severity == BLOCKER and "raises NotImplementedError" in distinct.message
    (refusal,) = _at(result, "shop/views.py", "raise NotImplementedError")
    assert refusal.rule == "vendor-refusal"
    (sfu,) = _at(result, "shop/views.py", 'of=("self",)')
    assert sfu.severity == BLOCKER and "never evaluated" in sfu.message


def test_django_own_per_vendor_sql_is_not_a_finding(result) -> None:  # type: ignore[no-untyped-def]
    assert _at(result, "shop/views.py", "cursor.execute(sql)") == []


def test_expression_indexes_and_constraints_mariadb_skips_are_risks_with_true_advice(result) -> None:  # type: ignore[no-untyped-def]
    assert _at(result, "shop/models.py", "import BrinIndex") == []  # indexes loads without psycopg
    assert _at(result, "shop/models.py", 'name="tagged_label")') == []  # built as the same B-tree index
    (index,) = _at(result, "shop/models.py", "BrinIndex(Lower")
    assert index.rule == "index-skipped"
    (unique,) = _at(result, "shop/models.py", 'UniqueConstraint(Lower("code")')
    assert "not enforced" not in unique.message + unique.instead
    assert "validate_constraints" in unique.instead


def _advice_texts() -> list[str]:
    texts = [rule.instead for rule in RULES.values()] + list(catalog.PG_ADVICE.values())
    texts += [c.advice for c in sql._NODES.values()] + list(sql._PG_STATEMENTS.values())
    texts += [sql.ADVISORY_LOCK_ADVICE, auditor._SETTINGS_REFUSAL]
    return texts


def test_every_api_named_in_advice_imports() -> None:
    names = sorted({m for text in _advice_texts() for m in re.findall(r"\bdjango(?:_mysql)?(?:\.\w+)+", text)})
    assert "django_mysql.locks.Lock" in names and "django_mysql.models.ListCharField" in names
    # django_mysql.models needs configured settings: import in a fresh interpreter, as a project would
    code = (
        "import importlib, sys\n"
        "import django\n"
        "from django.conf import settings\n"
        "settings.configure(INSTALLED_APPS=['django_mysql'])\n"
        "django.setup()\n"
        "for name in sys.argv[1:]:\n"
        "    module, _, attr = name.rpartition('.')\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError:\n"
        "        assert hasattr(importlib.import_module(module), attr), name\n"
        "print('ok', len(sys.argv) - 1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr
    for text in _advice_texts():
        assert "portable Django API" not in text


def test_start_here_has_one_root_cause_per_rule_with_effort_and_evidence(result) -> None:  # type: ignore[no-untyped-def]
    data = result.as_dict()
    causes = data["root_causes"]
    keys = [(c["rule"], c["key"]) for c in causes]
    assert len(keys) == len(set(keys))
    assert causes[0]["phase"] == "settings and start-up"
    phases = [c["phase"] for c in causes]
    order = ["settings and start-up", "models and migrations", "queries", "tests"]
    assert phases == sorted(phases, key=order.index)
    for cause in causes:
        assert cause["effort"] in ("a line", "a function", "a model change with a data migration", "a redesign")
        assert cause["evidence"], cause
    text = render_text(data)
    assert re.search(r"\d+ root causes? behind \d+ findings?", text)
    assert text.index("START HERE") < text.index("by severity:")


def test_explain_says_which_guard_was_seen_or_not() -> None:
    proc = run_cli("audit", str(PROJECT), "--explain", "shop/views.py:10")
    assert proc.returncode == 0, proc.stderr
    assert "select-for-update-of" in proc.stdout and "handled" in proc.stdout
    assert "OF_SELF" in proc.stdout and "shop/db.py" in proc.stdout
    proc = run_cli("audit", str(PROJECT), "--explain", "shop/views.py:31")
    assert "no vendor or feature guard" in proc.stdout
    proc = run_cli("audit", str(PROJECT), "--explain", "shop/views.py:2")
    assert proc.returncode == 0 and "no finding at shop/views.py:2" in proc.stdout
    proc = run_cli("audit", str(PROJECT), "--explain", "nowhere")
    assert proc.returncode == 2 and proc.stderr.startswith("dbbench: error:") and "FILE:LINE" in proc.stderr


def test_fixture_lines_the_explain_test_names_are_where_it_thinks() -> None:
    lines = (PROJECT / "shop/views.py").read_text().splitlines()
    assert "of=OF_SELF" in lines[9] and "CAST(active" in lines[30]


def test_a_feature_branch_is_judged_by_djangos_features_for_the_target() -> None:
    # MySQL 8 has FOR UPDATE OF (Django's has_select_for_update_of is true there): the else side never runs
    mysql8 = audit_path(PROJECT, json_notes={}, target="mysql8")
    lines = (PROJECT / "shop/views.py").read_text().splitlines()
    unused = next(
        i for i, text in enumerate(lines, start=1) if text.strip() == "qs.select_for_update()  # audit: vendor-refusal"
    )
    assert [f.rule for f in mysql8.findings if f.file == "shop/views.py" and f.line == unused] == []
    mariadb = audit_path(PROJECT, json_notes={})
    assert [f.rule for f in mariadb.findings if f.file == "shop/views.py" and f.line == unused] == ["vendor-refusal"]
