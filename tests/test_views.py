"""The quiz site's views on each live backend: what they return, how they score, what they refuse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from dbbench.quiz.models import QuizAttempt
from dbbench.quiz.views import score_percent
from tests.helpers import ALL_DATABASES, FIXTURES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

# Quiz 1 of fixtures/quiz_small.json: three questions, correct choices 1, 2, 3, four choices each.
GOOD: dict[str, Any] = {
    "student": 3,
    "answers": {
        "q1": {"choice": 1, "time_ms": 1500, "changed": False},
        "q2": {"choice": 2, "time_ms": 2500, "changed": True},
        "q3": {"choice": 0, "time_ms": 1000, "changed": False},
    },
    "meta": {"device": "mobile", "browser": {"name": "Firefox", "version": "131.0"}},
}


@pytest.fixture
def site(alias: str, settings: Any) -> Client:
    """A test client whose views use ``alias``, with the small fixture loaded there."""
    settings.DBBENCH_SITE_DB = alias
    call_command("loaddata", str(FIXTURES / "quiz_small.json"), database=alias, verbosity=0)
    return Client()


def _post(site: Client, url: str, body: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return site.post(url, data=data, content_type="application/json")


def test_catalog_lists_every_quiz(site: Client) -> None:
    response = site.get("/quizzes/")
    assert response.status_code == 200
    assert [q["id"] for q in response.json()["quizzes"]] == [1, 2]


def test_start_quiz_hides_the_correct_answers(site: Client) -> None:
    response = site.get("/quizzes/1/")
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Capitals of Europe"
    assert [q["position"] for q in body["questions"]] == [1, 2, 3]
    assert body["questions"][0]["choices"] == ["Α", "B", "C", "D 🙂"]
    assert "correct_choice" not in json.dumps(body)


def test_submit_scores_and_stores_the_attempt(site: Client, alias: str) -> None:
    before = QuizAttempt.objects.using(alias).count()
    response = _post(site, "/quizzes/1/attempts/", GOOD)
    assert response.status_code == 201, response.content
    body = response.json()
    # Two of three right: 66.67% rounds half-up to 67.
    assert (body["score"], body["correct"], body["questions"]) == (67, 2, 3)
    assert QuizAttempt.objects.using(alias).count() == before + 1
    attempt = QuizAttempt.objects.using(alias).get(pk=body["attempt"])
    assert (attempt.student_id, attempt.quiz_id, attempt.score) == (3, 1, 67)
    assert attempt.answers == GOOD["answers"]
    assert attempt.meta["browser"] == {"name": "Firefox", "version": "131.0"}
    assert attempt.meta["ip"] == "127.0.0.1"
    # started_at is back-dated by the time spent answering (5 s here).
    assert (attempt.finished_at - attempt.started_at).total_seconds() == pytest.approx(5.0)


def test_partial_answers_count_as_wrong(site: Client) -> None:
    body = {"student": 1, "answers": {"q3": {"choice": 3}}}
    response = _post(site, "/quizzes/1/attempts/", body)
    assert response.status_code == 201
    assert (response.json()["score"], response.json()["correct"]) == (33, 1)


@pytest.mark.parametrize(
    ("url", "body", "status", "message"),
    [
        ("/quizzes/999/attempts/", GOOD, 404, "no quiz 999"),
        ("/quizzes/1/attempts/", "{not json", 400, "not JSON"),
        ("/quizzes/1/attempts/", b"\xff\xfe", 400, "not JSON"),
        ("/quizzes/1/attempts/", [1, 2], 400, "JSON object"),
        ("/quizzes/1/attempts/", {**GOOD, "student": "3"}, 400, "'student'"),
        ("/quizzes/1/attempts/", {**GOOD, "student": 999}, 400, "no student 999"),
        ("/quizzes/1/attempts/", {**GOOD, "student": 2**70}, 400, f"no student {2**70}"),
        ("/quizzes/1/attempts/", "[" * 30_000 + "]" * 30_000, 400, "not JSON"),
        ("/quizzes/1/attempts/", "x" * 70_000, 400, "over 65536 bytes"),
        ("/quizzes/1/attempts/", {**GOOD, "answers": {}}, 400, "'answers'"),
        ("/quizzes/1/attempts/", {**GOOD, "answers": [1, 2, 3]}, 400, "'answers'"),
        ("/quizzes/1/attempts/", {**GOOD, "answers": {"q9": {"choice": 1}}}, 400, "unknown question 'q9'"),
        ("/quizzes/1/attempts/", {**GOOD, "answers": {"q1": 2}}, 400, "answer 'q1'"),
        ("/quizzes/1/attempts/", {**GOOD, "answers": {"q1": {"choice": 4}}}, 400, "from 0 to 3"),
        ("/quizzes/1/attempts/", {**GOOD, "answers": {"q1": {"choice": True}}}, 400, "'choice'"),
        ("/quizzes/1/attempts/", {**GOOD, "answers": {"q1": {"choice": 1, "time_ms": -5}}}, 400, "'time_ms'"),
        ("/quizzes/1/attempts/", {**GOOD, "answers": {"q1": {"choice": 1, "changed": "no"}}}, 400, "'changed'"),
        ("/quizzes/1/attempts/", {**GOOD, "meta": "x"}, 400, "'meta'"),
        ("/quizzes/1/attempts/", {**GOOD, "meta": {"x": "y" * 3000}}, 400, "'meta'"),
    ],
)
def test_bad_submissions_are_refused_and_store_nothing(
    site: Client, alias: str, url: str, body: Any, status: int, message: str
) -> None:
    before = QuizAttempt.objects.using(alias).count()
    response = _post(site, url, body)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert QuizAttempt.objects.using(alias).count() == before


def test_wrong_methods_and_unknown_ids(site: Client) -> None:
    assert site.get("/quizzes/1/attempts/").status_code == 405
    assert _post(site, "/quizzes/1/", GOOD).status_code == 405
    assert site.get("/quizzes/999/").status_code == 404
    assert site.get("/quizzes/999/leaderboard/").status_code == 404
    assert site.get("/students/999/attempts/").status_code == 404
    assert site.get(f"/quizzes/{2**70}/").status_code == 404  # beyond bigint: still "no such quiz", not a 500


def test_history_is_newest_first(site: Client) -> None:
    new = _post(site, "/quizzes/2/attempts/", {"student": 2, "answers": {"q1": {"choice": 1}}}).json()["attempt"]
    response = site.get("/students/2/attempts/")
    assert response.status_code == 200
    attempts = response.json()["attempts"]
    # Student 2's fixture attempts are 3 (Feb 13) and 4 (Feb 14); the new one is today's.
    assert [a["id"] for a in attempts] == [new, 4, 3]
    assert (attempts[0]["quiz"], attempts[0]["title"], attempts[0]["score"]) == (2, "Naïve Bayes & friends", 33)


def test_leaderboard_ranks_best_score_per_student(site: Client) -> None:
    # Quiz 1 in the fixture: student 1 scored 0, student 2 67, student 3 100; student 3 now adds a 67.
    _post(site, "/quizzes/1/attempts/", {"student": 3, "answers": {"q1": {"choice": 1}, "q2": {"choice": 2}}})
    response = site.get("/quizzes/1/leaderboard/")
    assert response.status_code == 200
    leaders = response.json()["leaders"]
    assert [(r["student"], r["best"], r["attempts"]) for r in leaders] == [(3, 100, 2), (2, 67, 1), (1, 0, 1)]


def test_health_names_the_backend(site: Client, alias: str) -> None:
    from django.db import connections

    body = site.get("/health/").json()
    assert body == {"ok": True, "database": connections[alias].display_name, "quizzes": True}


@pytest.mark.parametrize(
    ("correct", "total", "percent"), [(0, 3, 0), (1, 3, 33), (2, 3, 67), (3, 3, 100), (1, 8, 13), (0, 0, 0)]
)
def test_score_percent_rounds_half_up(correct: int, total: int, percent: int) -> None:
    assert score_percent(correct, total) == percent


# --- values the databases cannot store alike (issue 20, case 10) ---------------------------------------------


@pytest.mark.parametrize(
    ("raw_meta", "message"),
    [
        ("NaN", "NaN"),
        ("-Infinity", "Infinity"),
        ("1e400", "1e400"),
        ("1e16", "not store alike"),  # PostgreSQL's jsonb would give back the integer 10000000000000000
        ("-0.0", "not store alike"),  # PostgreSQL would give back 0.0
        ('"\\ud800"', "lone surrogate"),
        ('"\\u0000"', "NUL"),  # PostgreSQL refuses it, MariaDB stored it
        ('{"\\u0000key": 1}', "NUL"),
        ('[1, {"deep": "\\udfff"}]', "lone surrogate"),
        ("[" * 31 + "]" * 31, "nests deeper"),  # MariaDB answered 500, PostgreSQL stored it (issue 31, M8)
        ('{"a": ' * 30 + "1" + "}" * 30, "nests deeper"),
    ],
)
def test_meta_values_the_databases_cannot_store_alike_are_400(
    site: Client, alias: str, raw_meta: str, message: str
) -> None:
    before = QuizAttempt.objects.using(alias).count()
    body = json.dumps({**GOOD, "meta": "META"}).replace('"META"', '{"value": ' + raw_meta + "}")
    response = _post(site, "/quizzes/1/attempts/", body)
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]
    assert QuizAttempt.objects.using(alias).count() == before


def test_accepted_meta_values_come_back_as_they_were_sent(site: Client, alias: str) -> None:
    values = [9.9e15, -9.9e15, 5e-324, 0.0, 0.1, 2**63, -(10**30), "é😀", "\u2028", "\ufeff", [None, True, {"x": []}]]
    response = _post(site, "/quizzes/1/attempts/", {**GOOD, "meta": {"values": values}})
    assert response.status_code == 201, response.content
    stored = QuizAttempt.objects.using(alias).get(pk=response.json()["attempt"]).meta["values"]
    assert [(repr(v), type(v)) for v in stored] == [(repr(v), type(v)) for v in values]


def test_a_foreign_host_header_is_400_and_the_own_hosts_are_served(site: Client) -> None:
    assert site.get("/quizzes/", HTTP_HOST="attacker.example").status_code == 400
    assert site.get("/quizzes/", HTTP_HOST="127.0.0.1:8000").status_code == 200
    assert site.get("/quizzes/", HTTP_HOST="localhost").status_code == 200
