"""``dbbench audit``: the rules on the sample projects, the CLI contract, and the SQL claims on the live servers.

The sample projects in ``fixtures/audit_projects`` mark every line that must produce a finding with
``# audit: rule-id[, rule-id]``; the tests compare the audit's findings with those markers exactly.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from dbbench.audit.rules import HANDLED, RULES, SEVERITIES, rules_for_probe
from dbbench.audit.scan import audit_path, python_files, render_markdown, render_text
from dbbench.audit.sql import REWRITE, SEMANTICS, UNTRANSLATABLE, check_sql
from dbbench.parity import suite as parity
from dbbench.results import load_result
from tests.helpers import FIXTURES, run_cli

pytestmark = pytest.mark.nodb  # runs on a machine without database servers

PROJECTS = FIXTURES / "audit_projects"
PROJECT_NAMES = ["postgres_contrib", "queries", "json", "strings", "schema", "raw_sql", "broken", "clean", "guards",
                 "fields", "custom_sql", "behaviour", "newer_python", "whole_program"]  # fmt: skip
# A fixed "differing" table for the JSON sample project, so that its expected findings do not move when the parity
# suite re-observes the servers (test_json_rule_follows_the_parity_list covers the live table).
SAMPLE_JSON_NOTES = dict.fromkeys(["contains", "in", "gt", "gte", "lt", "exact", "order_by"], "differs")
_MARKER = re.compile(r"#\s*audit:\s*([a-z0-9, :-]+?)\s*$")


def _markers(project: Path) -> Counter[tuple[str, int, str]]:
    expected: Counter[tuple[str, int, str]] = Counter()
    for path in sorted(project.rglob("*.py")):
        text = path.read_bytes().decode("utf-8", errors="replace")  # broken/ holds a file that is not UTF-8
        for number, line in enumerate(text.splitlines(), start=1):
            match = _MARKER.search(line)
            if match:
                for rule in match.group(1).split(","):
                    expected[(path.relative_to(project).as_posix(), number, rule.strip())] += 1
    return expected


def _found(project: Path) -> Counter[tuple[str, int, str]]:
    result = audit_path(project, json_notes=SAMPLE_JSON_NOTES)
    # a finding under a vendor/feature guard is marked "rule-id:handled"
    return Counter((f.file, f.line, f.rule + (":handled" if f.severity == HANDLED else "")) for f in result.findings)


@pytest.mark.parametrize("name", PROJECT_NAMES)
def test_sample_project_findings_match_its_markers(name: str) -> None:
    project = PROJECTS / name
    expected = _markers(project)
    assert (name == "clean") == (not expected), "every sample project but clean/ marks findings"
    assert _found(project) == expected


def test_every_rule_is_exercised_by_a_sample_project() -> None:
    seen = {rule.split(":")[0] for name in PROJECT_NAMES for (_, _, rule) in _markers(PROJECTS / name)}
    assert seen == set(RULES)


def test_queries_project_in_full() -> None:
    # Spelled out (not from markers) so that a bug in the marker reader cannot hide a wrong result.
    result = audit_path(PROJECTS / "queries", json_notes={})
    got = [(f.file, f.line, f.rule, f.severity) for f in result.findings]
    assert got == [
        ("orders/views.py", 9, "distinct-on", "blocker"),
        ("orders/views.py", 18, "select-for-update-no-key", "blocker"),
        ("orders/views.py", 20, "select-for-update-of", "blocker"),
        ("orders/views.py", 31, "upsert-unique-fields", "blocker"),
        ("orders/views.py", 41, "upsert-unique-fields", "handled"),  # under a connection.features test
        ("orders/views.py", 47, "ignore-conflicts", "behaviour change"),
        ("orders/views.py", 53, "iterator-buffered", "performance risk"),
    ]
    assert result.counts == {"blocker": 4, "behaviour change": 1, "performance risk": 1, "handled": 1}
    assert result.exit_code == 1
    upsert = result.findings[3]
    assert "supports_update_conflicts_with_target" in upsert.instead
    assert upsert.code == 'unique_fields=["sku"],  # audit: upsert-unique-fields'


def test_clean_project_has_no_findings_with_the_parity_suites_list() -> None:
    result = audit_path(PROJECTS / "clean")  # the live differing-lookups table, not the sample one
    assert result.findings == []
    assert result.files == 6
    assert result.exit_code == 0


def test_json_rule_follows_the_parity_list(tmp_path: Path) -> None:
    assert set(audit_path(PROJECTS / "clean").json_notes) == set(parity.DIFFERING_JSON_LOOKUPS)
    candidates = ["exact", "iexact", "contains", "icontains", "contained_by", "in", "gt", "gte", "lt", "lte"]
    candidates += ["has_key", "has_keys", "has_any_keys", "isnull", "startswith"]
    lines = ["from app.models import Doc", ""]
    expected: set[int] = set()
    for lookup in candidates:
        lines.append(f"Doc.objects.filter(data__k__{lookup}=1)")
        if lookup in parity.DIFFERING_JSON_LOOKUPS:
            expected.add(len(lines))
    lines.append('Doc.objects.order_by("data__k")')
    if "order_by" in parity.DIFFERING_JSON_LOOKUPS:
        expected.add(len(lines))
    (tmp_path / "app").mkdir()
    model = "from django.db import models\n\n\nclass Doc(models.Model):\n    data = models.JSONField()\n"
    (tmp_path / "app" / "models.py").write_text(model)
    (tmp_path / "app" / "views.py").write_text("\n".join(lines) + "\n")
    result = audit_path(tmp_path)
    assert {f.line for f in result.findings if f.rule == "json-lookup"} == expected
    assert expected, "the parity suite lists at least one differing JSON lookup"
    for finding in result.findings:
        lookup = re.search(r"JSON '(\w+)'", finding.message)
        if lookup:  # the parity suite's note on how the lookup differs is passed on
            assert parity.JSON_LOOKUP_NOTES[lookup.group(1)] in finding.message


def test_walk_skips_virtualenvs_caches_and_excluded_paths(tmp_path: Path) -> None:
    for rel in ["app/models.py", "app/tests/test_x.py", ".venv/lib/x.py", "env2/lib/y.py", "node_modules/z.py",
                "app/__pycache__/m.py", "build/gen.py", "notes.txt"]:  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("X = 1\n")
    (tmp_path / "env2" / "pyvenv.cfg").write_text("home = /usr/bin\n")  # a virtualenv under any name
    found = [p.relative_to(tmp_path).as_posix() for p in python_files(tmp_path, exclude=["build", "*/tests/*"])]
    assert found == ["app/models.py"]


# --- the SQL checker ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a FROM t WHERE b = %s AND c IN (%s, %s) ORDER BY a DESC LIMIT 5",
        "UPDATE t SET a = a + 1 WHERE id = %(id)s",
        "INSERT INTO t (a, b) VALUES (%s, %s)",
        "SELECT COUNT(*), MAX(a) FROM t LEFT JOIN u ON t.id = u.t_id GROUP BY t.x HAVING COUNT(*) > 1",
        "CREATE INDEX t_a ON t (a)",
        "SELECT a FROM t WHERE id = ANY(SELECT t_id FROM u)",
        "WITH x AS (SELECT a FROM t) SELECT a FROM x UNION ALL SELECT 1",
        "START TRANSACTION",
        "EXPLAIN SELECT 1",
    ],
)
def test_portable_sql_has_no_constructs(sql: str) -> None:
    check = check_sql(sql)
    assert check.portable, check.constructs


@pytest.mark.parametrize(
    ("sql", "kind", "label"),
    [
        ("SELECT * FROM t WHERE data @> %s", UNTRANSLATABLE, "@> containment"),
        ("SELECT * FROM generate_series(1, 3)", UNTRANSLATABLE, "generate_series()"),
        ("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO NOTHING", UNTRANSLATABLE, "ON CONFLICT"),
        ("DELETE FROM t WHERE id = 1 RETURNING id", UNTRANSLATABLE, "RETURNING"),
        ("SELECT a FROM t WHERE id = ANY(%s)", UNTRANSLATABLE, "= ANY(array)"),
        ("SELECT data->>'k' FROM t", UNTRANSLATABLE, "->> text extraction"),
        ("SELECT count(*) FILTER (WHERE x) FROM t", UNTRANSLATABLE, "aggregate FILTER (WHERE ...)"),
        ("SELECT id FROM t FOR NO KEY UPDATE", UNTRANSLATABLE, "FOR NO KEY UPDATE / FOR KEY SHARE"),
        ("CREATE TABLE x (id SERIAL PRIMARY KEY)", UNTRANSLATABLE, "type SERIAL"),
        ("CREATE EXTENSION IF NOT EXISTS pg_trgm", UNTRANSLATABLE, "statement CREATE EXTENSION"),
        ("LISTEN jobs", UNTRANSLATABLE, "statement LISTEN"),
        ("SELECT a FROM t WHERE a ~ '^x'", UNTRANSLATABLE, "~ regular expression"),
        ("SELECT to_tsvector('english', body) FROM t", UNTRANSLATABLE, "to_tsvector()"),
        ("SELECT id::text FROM t", REWRITE, ":: casts"),
        ("SELECT * FROM t WHERE name ILIKE %s", REWRITE, "ILIKE"),
        ('SELECT "name" FROM "t"', REWRITE, 'double-quoted identifiers ("name")'),
        ("SELECT a || b FROM t", REWRITE, "|| concatenation"),
        ("SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b", REWRITE, "DISTINCT ON"),
        ("SELECT a FROM t WHERE d > now() - interval '1 day'", REWRITE, "INTERVAL '1 day' literals"),
        ("SELECT a FROM t WHERE name LIKE %s", SEMANTICS, "LIKE"),
        ("SELECT LENGTH(a) FROM t", SEMANTICS, "LENGTH()"),
    ],
)
def test_postgresql_only_sql_is_named(sql: str, kind: str, label: str) -> None:
    check = check_sql(sql)
    assert label in [c.label for c in check.of_kind(kind)]
    # a rewrite is offered only when its meaning is the same: never with untranslatable or semantics constructs
    assert (check.translation is None) == bool(check.of_kind(UNTRANSLATABLE) or check.of_kind(SEMANTICS))


def test_rewrites_come_with_sqlglots_mysql_version_keeping_django_placeholders() -> None:
    check = check_sql("SELECT id::text FROM t WHERE name ILIKE %(q)s AND id > %s")
    assert check.translation == "SELECT CAST(id AS CHAR) FROM t WHERE LOWER(name) LIKE LOWER(%(q)s) AND id > %s"
    assert check_sql("a || 'x' = %s", fragment="condition").translation == "CONCAT(a, 'x') = %s"


def test_unreadable_sql_is_reported_not_raised() -> None:
    assert "Unexpected token" in (check_sql("SELEC x FROM (").parse_error or "")
    assert check_sql("hello world").parse_error == "not a SQL statement (sqlglot read it as Alias)"


# --- the command line ---------------------------------------------------------------------------------------


def test_cli_text_output_groups_by_severity_and_exits_1_on_blockers() -> None:
    proc = run_cli("audit", str(PROJECTS / "queries"))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert out.splitlines()[0].endswith("(target: mariadb): 7 findings in 3 Python files")
    assert out.index("START HERE") < out.index(
        "by severity: 4 blockers, 1 behaviour change, 1 performance risk, 1 handled"
    )
    assert out.index("by rule: upsert-unique-fields 2,") < out.index("== app (7) ==")
    assert out.index("BLOCKERS (4)") < out.index("BEHAVIOUR CHANGES (1)") < out.index("PERFORMANCE RISKS (1)")
    assert out.index("PERFORMANCE RISKS (1)") < out.index("HANDLED BY A VENDOR OR FEATURE GUARD")
    assert "  orders/views.py:9  [distinct-on] " in out
    assert proc.stderr == ""


def test_cli_json_shape_and_result_file(tmp_path: Path) -> None:
    output = tmp_path / "audit.json"
    proc = run_cli("audit", str(PROJECTS / "schema"), "--json", "--output", str(output))
    assert proc.returncode == 0, proc.stderr  # no blockers in schema/
    data = json.loads(proc.stdout)
    assert set(data) == {"path", "files", "target", "counts", "findings", "rules", "notes", "ignored",
                         "differing_json_lookups", "sqlglot", "root_causes"}  # fmt: skip
    assert data["counts"] == {"blocker": 0, "behaviour change": 4, "performance risk": 3, "handled": 0}
    assert set(data["rules"]) == {"index-skipped", "constraint-skipped"}
    assert data["rules"]["index-skipped"]["probes"] == ["functional_index_lower"]
    first = data["findings"][0]
    assert set(first) == {"file", "line", "col", "rule", "severity", "message", "instead", "code", "probes", "guard",
                          "area", "why", "baselined"}  # fmt: skip
    assert first["probes"] == ["functional_index_lower"]
    assert (first["file"], first["line"], first["rule"]) == ("catalog/models.py", 16, "index-skipped")
    kind, document = load_result(output, "audit")
    assert kind == "audit" and document["data"] == data


def test_cli_clean_project_exits_0() -> None:
    proc = run_cli("audit", str(PROJECTS / "clean"))
    assert proc.returncode == 0, proc.stderr
    assert "0 findings in 6 Python files" in proc.stdout
    assert "no PostgreSQL-only code found" in proc.stdout


def test_cli_unparseable_files_are_findings_and_can_be_excluded() -> None:
    proc = run_cli("audit", str(PROJECTS / "broken"))
    assert proc.returncode == 1
    assert "app/views.py:6  [python-syntax] cannot parse: closing parenthesis" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    proc = run_cli("audit", str(PROJECTS / "broken"), "--exclude", "app/views.py", "--exclude", "app/legacy*")
    assert proc.returncode == 0, proc.stdout
    assert "0 findings in 2 Python files" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/project"], "audit: /no/such/project: no such file or directory"),
        ([str(FIXTURES / "quiz_small.json")], "not a Python file or a folder"),
        ([str(PROJECTS / "queries"), "--exclude", "*"], "no Python files found"),
        ([str(PROJECTS / "queries"), "--output", "/no/such/folder/audit.json"], "folder /no/such/folder does not"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(args: list[str], message: str, tmp_path: Path) -> None:
    output = tmp_path / "audit.json"
    extra = [] if "--output" in args else ["--output", str(output)]
    proc = run_cli("audit", *args, *extra)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("dbbench: error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not output.exists()


def test_renderings_cover_every_finding() -> None:
    data = audit_path(PROJECTS / "raw_sql", json_notes={}).as_dict()
    text, markdown = render_text(data), render_markdown(data)
    for f in data["findings"]:
        assert f"{f['file']}:{f['line']}  " in text
        assert f"`{f['file']}:{f['line']}`" in markdown
    assert [s for s in SEVERITIES if data["counts"][s]] == ["blocker", "behaviour change"]


# --- guards, targets, baselines, ignores, excludes, resilience -----------------------------------------------


def test_mysql_branch_sql_is_read_as_mysql_never_as_postgresql() -> None:
    result = audit_path(PROJECTS / "guards", json_notes={})
    mysql_line = [f for f in result.findings if f.file == "sync/locks.py" and f.line == 25]
    assert mysql_line == []  # information_schema SQL in the `vendor == "mysql"` branch
    handled = [f for f in result.findings if f.severity == HANDLED]
    assert handled and all("verify on the target" in f.message and f.guard for f in handled)
    assert result.ignored == 1  # the TRUNCATE line's "# dbbench: ignore[raw-sql-untranslatable]"
    assert result.exit_code == 1  # the unguarded copies are still blockers


def test_target_mysql8_accepts_what_mysql8_supports() -> None:
    on_mariadb = audit_path(PROJECTS / "guards", json_notes={})
    on_mysql8 = audit_path(PROJECTS / "guards", json_notes={}, target="mysql8")
    assert "select-for-update-of" in {f.rule for f in on_mariadb.findings}
    assert "select-for-update-of" not in {f.rule for f in on_mysql8.findings}  # MySQL 8 has FOR UPDATE OF
    behaviour = audit_path(PROJECTS / "behaviour", json_notes={}, target="mysql8")
    skipped = [f for f in behaviour.findings if f.rule in ("index-skipped", "constraint-skipped")]
    assert [(f.line, f.rule) for f in skipped] == [(16, "constraint-skipped")]  # condition=, not Lower("word")


def test_cli_target_rejects_other_servers() -> None:
    proc = run_cli("audit", str(PROJECTS / "queries"), "--target", "oracle")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_baseline_fails_ci_on_new_blockers_only(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    views = project / "app" / "views.py"
    views.write_text("def f(qs):\n    return qs.distinct('a')\n")
    baseline = tmp_path / "baseline.json"
    proc = run_cli("audit", str(project), "--write-baseline", str(baseline))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(baseline.read_text())["findings"] == {"app/views.py|distinct-on|return qs.distinct('a')": 1}
    views.write_text("# a comment moves the line\ndef f(qs):\n    return qs.distinct('a')\n")
    proc = run_cli("audit", str(project), "--baseline", str(baseline))
    assert proc.returncode == 0, proc.stdout  # known finding, moved: still known
    assert "baseline: 1 known, 0 new" in proc.stdout
    views.write_text("def f(qs):\n    return qs.distinct('a')\n\n\ndef g(qs):\n    return qs.distinct('b')\n")
    proc = run_cli("audit", str(project), "--baseline", str(baseline))
    assert proc.returncode == 1 and "baseline: 1 known, 1 new" in proc.stdout
    proc = run_cli("audit", str(project), "--baseline", str(tmp_path / "missing.json"))
    assert proc.returncode == 2 and "no such file (create it with --write-baseline)" in proc.stderr


def test_ignore_comment_silences_only_the_named_rule(tmp_path: Path) -> None:
    (tmp_path / "v.py").write_text(
        "def f(qs):\n"
        "    a = qs.distinct('a')  # dbbench: ignore[distinct-on]\n"
        "    b = qs.distinct('b')  # dbbench: ignore[iterator-buffered]\n"
        "    c = qs.distinct('c')  # dbbench: ignore\n"
        "    return a, b, c\n"
    )
    result = audit_path(tmp_path, json_notes={})
    assert [(f.line, f.rule) for f in result.findings] == [(3, "distinct-on")]
    assert result.ignored == 2


def test_exclude_accepts_a_folder_name_anywhere(tmp_path: Path) -> None:
    for rel in ["shop/migrations/0001_initial.py", "shop/views.py", "blog/migrations/0002_x.py", "migrations.py"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("X = 1\n")
    found = [p.relative_to(tmp_path).as_posix() for p in python_files(tmp_path, exclude=["migrations"])]
    assert found == ["migrations.py", "shop/views.py"]


def test_findings_are_split_by_area_and_grouped_by_root_cause(tmp_path: Path) -> None:
    for rel in ["shop/models.py", "shop/migrations/0001_initial.py", "shop/tests/test_models.py"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(
            "from django.db import models\n\n\nclass A(models.Model):\n"
            + "".join(f"    f{i} = models.CharField(max_length=9, db_collation='und-x-icu')\n" for i in range(3))
        )
    result = audit_path(tmp_path, json_notes={})
    assert {f.file: f.area for f in result.findings} == {
        "shop/models.py": "app",
        "shop/migrations/0001_initial.py": "migrations",
        "shop/tests/test_models.py": "tests",
    }
    text = render_text(result.as_dict())
    assert "by area: app 3, migrations 3, tests 3" in text
    assert text.index("== app (3) ==") < text.index("== migrations (3) ==") < text.index("== tests (3) ==")
    assert text.count("db_collation='und-x-icu' is not a MySQL/MariaDB collation") == 3  # once per area, 3 places
    assert "the migration fails there: 3 places" in text


def test_every_rule_names_probes_that_exist() -> None:
    # Probe names are the @probe-decorated functions of dbbench/parity/probes (read statically: no Django setup).
    import ast as pyast

    probes_dir = Path(parity.__file__).parent / "probes"
    names = {
        node.name
        for path in probes_dir.glob("*.py")
        for node in pyast.walk(pyast.parse(path.read_text()))
        if isinstance(node, pyast.FunctionDef) and any("probe" in pyast.unparse(d) for d in node.decorator_list)
    }
    missing = {rule.id: [p for p in rule.probes if p not in names] for rule in RULES.values()}
    assert {r: m for r, m in missing.items() if m} == {}


def test_one_failing_file_is_a_note_not_the_end_of_the_audit(tmp_path: Path) -> None:
    (tmp_path / "deep.py").write_text("x = " + "-" * 100_000 + "1\n")  # beyond the parser's nesting limit
    (tmp_path / "nested.py").write_text("x = " + "(" * 900 + "1" + ")" * 900 + "\n")
    (tmp_path / "ok.py").write_text("def f(qs):\n    return qs.distinct('a')\n")
    result = audit_path(tmp_path, json_notes={})
    assert [(f.file, f.rule) for f in result.findings if f.rule != "python-syntax"] == [("ok.py", "distinct-on")]
    assert result.files == 3
    accounted = {n.split(":")[0] for n in result.notes} | {f.file for f in result.findings}
    assert {"deep.py", "nested.py"} <= accounted  # each pathological file is a note or a finding of its own


def test_newer_python_files_are_a_note_and_their_sql_is_still_checked() -> None:
    result = audit_path(PROJECTS / "newer_python", json_notes={})
    assert any(n.startswith("app/generic.py: needs a newer Python than") for n in result.notes)
    assert [(f.file, f.rule) for f in result.findings] == [("app/generic.py", "raw-sql-untranslatable")]
    assert "python-syntax" not in {f.rule for f in result.findings}


def test_inet_shift_gets_no_rewrite() -> None:
    check = check_sql("SELECT id FROM t WHERE net >> %s")
    assert check.translation is None and check.of_kind(UNTRANSLATABLE)


# The differences a reader can see in code (issue: parity, second round): each has a rule that finds it.
VISIBLE_IN_CODE = (
    "distinct_on",
    "sfu_of",
    "str_unique_case",
    "in_sliced_subquery",
    "delete_in_sliced_subquery",
    "ordered_update_unique",
    "int_division_filter",
    "round_float_half",
    "regex_word_boundary_b",
    "regex_y_boundary",
    "conditional_unique_constraint",
    "functional_unique_lower",
    "functional_index_lower",
)


def test_the_map_between_rules_and_probes_is_complete_both_ways() -> None:
    for rule in RULES.values():
        for probe in rule.probes:
            assert rule.id in rules_for_probe(probe), (rule.id, probe)
    assert {p: rules_for_probe(p) for p in VISIBLE_IN_CODE if not rules_for_probe(p)} == {}
    assert rules_for_probe("json_contains_scalar", json_lookups=("contains",)) == ["json-lookup"]
    assert rules_for_probe("not_a_probe") == []
