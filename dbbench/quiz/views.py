"""The quiz site: JSON views over the model layer, identical on every backend.

Which database the site uses is a setting, not code: ``DBBENCH_SITE_DB`` (Django setting, else environment
variable, else ``default``). gunicorn serves one backend with ``settings.all`` and a single target, so
``default`` is that target; tests point the views at each alias in turn.

There is no CSRF or session middleware (``settings.MIDDLEWARE`` holds only Server-Timing, load/timing.py, and
CommonMiddleware, for the Host check): the student is named in the request, as a load-test client would after
logging in. Every view runs a fixed, small number of queries.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeGuard

from django.conf import settings
from django.db import connections
from django.db.models import Count, Max
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dbbench.quiz.models import Question, Quiz, QuizAttempt, Student

HISTORY_LIMIT = 20  # what attempt_student_recent is built for: WHERE student_id = ? ORDER BY started_at DESC LIMIT 20
LEADERBOARD_LIMIT = 10
MAX_BODY_BYTES = 64 * 1024  # a submission of a few dozen answers is ~2 KB; anything far larger is not one
MAX_META_CHARS = 2_000
MAX_TIME_MS = 3_600_000  # one hour per question
# MariaDB refuses a JSON document nested 32 levels deep (PostgreSQL's jsonb takes it): 'meta' at 31 levels answered
# 500 there. Far below that, so every backend refuses the same bodies with 400.
MAX_JSON_DEPTH = 20


def site_db() -> str:
    """The database alias the site reads and writes."""
    return getattr(settings, "DBBENCH_SITE_DB", None) or os.environ.get("DBBENCH_SITE_DB") or "default"


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers and holds quizzes (load tests wait for this)."""
    db = site_db()
    return JsonResponse(
        {"ok": True, "database": connections[db].display_name, "quizzes": Quiz.objects.using(db).exists()}
    )


@require_GET
def catalog(request: HttpRequest) -> JsonResponse:
    """The home page: every quiz (a few hundred), lightest columns only."""
    quizzes = Quiz.objects.using(site_db()).order_by("pk").values("id", "title", "topic")
    return JsonResponse({"quizzes": list(quizzes)})


@require_GET
def start_quiz(request: HttpRequest, quiz_id: int) -> JsonResponse:
    """Start a quiz: the quiz and its questions, without the correct answers."""
    db = site_db()
    quiz = Quiz.objects.using(db).filter(pk=quiz_id).values("id", "title", "topic").first()
    if quiz is None:
        return _error(404, f"no quiz {quiz_id}")
    questions = Question.objects.using(db).filter(quiz_id=quiz_id).order_by("position")
    return JsonResponse({**quiz, "questions": list(questions.values("position", "text", "choices"))})


@require_POST
def submit_attempt(request: HttpRequest, quiz_id: int) -> JsonResponse:
    """Submit answers: score them and store the attempt (201), or say what is wrong (4xx) and store nothing."""
    db = site_db()
    if not Quiz.objects.using(db).filter(pk=quiz_id).exists():
        return _error(404, f"no quiz {quiz_id}")
    keys = {
        f"q{position}": (correct, len(choices))
        for position, correct, choices in Question.objects.using(db)
        .filter(quiz_id=quiz_id)
        .values_list("position", "correct_choice", "choices")
    }
    try:
        submission = parse_submission(request.body, keys)
    except BadSubmission as exc:
        return _error(400, str(exc))
    if not Student.objects.using(db).filter(pk=submission.student).exists():
        return _error(400, f"no student {submission.student}")
    correct = sum(1 for key, answer in submission.answers.items() if answer["choice"] == keys[key][0])
    score = score_percent(correct, len(keys))
    now = timezone.now()
    attempt = QuizAttempt.objects.using(db).create(
        student_id=submission.student,
        quiz_id=quiz_id,
        started_at=now - timedelta(milliseconds=sum(a["time_ms"] for a in submission.answers.values())),
        finished_at=now,
        score=score,
        answers=submission.answers,
        meta={**submission.meta, "ip": request.META.get("REMOTE_ADDR", "")},
    )
    return JsonResponse({"attempt": attempt.pk, "score": score, "correct": correct, "questions": len(keys)}, status=201)


@require_GET
def student_history(request: HttpRequest, student_id: int) -> JsonResponse:
    """A student's latest attempts, newest first (the ``attempt_student_recent`` index)."""
    db = site_db()
    student = Student.objects.using(db).filter(pk=student_id).values("id", "name").first()
    if student is None:
        return _error(404, f"no student {student_id}")
    attempts = (
        QuizAttempt.objects.using(db)
        .filter(student_id=student_id)
        .order_by("-started_at", "-pk")
        .values("id", "quiz_id", "quiz__title", "score", "started_at", "finished_at")[:HISTORY_LIMIT]
    )
    history = [
        {
            "id": a["id"],
            "quiz": a["quiz_id"],
            "title": a["quiz__title"],
            "score": a["score"],
            "started_at": a["started_at"],
            "finished_at": a["finished_at"],
        }
        for a in attempts
    ]
    return JsonResponse({**student, "attempts": history})


@require_GET
def leaderboard(request: HttpRequest, quiz_id: int) -> JsonResponse:
    """A quiz's best students: best score per student (the ``attempt_quiz_leaderboard`` index)."""
    db = site_db()
    quiz = Quiz.objects.using(db).filter(pk=quiz_id).values("id", "title").first()
    if quiz is None:
        return _error(404, f"no quiz {quiz_id}")
    rows = (
        QuizAttempt.objects.using(db)
        .filter(quiz_id=quiz_id)
        .values("student_id")
        .annotate(best=Max("score"), attempts=Count("id"))
        .order_by("-best", "student_id")[:LEADERBOARD_LIMIT]
    )
    leaders = [{"student": r["student_id"], "best": r["best"], "attempts": r["attempts"]} for r in rows]
    return JsonResponse({**quiz, "leaders": leaders})


# --- submissions --------------------------------------------------------------------------------------------


class BadSubmission(ValueError):
    """A submission the site refuses with 400; the text says why."""


@dataclass(frozen=True)
class Submission:
    student: int
    answers: dict[str, dict[str, Any]]  # "q<position>" -> {"choice": int, "time_ms": int, "changed": bool}
    meta: dict[str, Any]


def score_percent(correct: int, total: int) -> int:
    """Percent correct, rounded half up (``round()`` rounds halves to even); 0 for a quiz without questions."""
    if total <= 0:
        return 0
    return (200 * correct + total) // (2 * total)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not a choice


def _no_constant(name: str) -> float:
    # Python's json accepts NaN and Infinity; JSON itself, PostgreSQL and MariaDB do not.
    raise BadSubmission(f"request body holds {name}, which is not JSON")


MAX_FLOAT = 1e16  # from here Python writes floats as 1e+16, which PostgreSQL's jsonb reads back as an integer


def _finite_float(text: str) -> float:
    """A JSON fraction both databases store as it came: finite (1e400 parses as inf), under 1e16, and not -0.0
    (PostgreSQL's numeric has no negative zero; MariaDB keeps it)."""
    value = float(text)
    negative_zero = value == 0 and math.copysign(1.0, value) < 0
    if not (math.isfinite(value) and abs(value) < MAX_FLOAT) or negative_zero:
        raise BadSubmission(f"request body holds {text[:20]}, a number the databases would not store alike")
    return value


def _check_storable(value: Any) -> None:
    """Refuse what both databases cannot store as it came: nesting deeper than MAX_JSON_DEPTH, NUL (refused by
    PostgreSQL's jsonb, kept by MariaDB) and lone surrogates such as ``"\\ud800"`` (not UTF-8). Keys are strings."""
    stack = [(value, 1)]
    while stack:  # a loop, not recursion: json.loads already bounded the depth, this keeps it cheap
        item, depth = stack.pop()
        if isinstance(item, dict | list) and depth > MAX_JSON_DEPTH:
            raise BadSubmission(f"request body nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise BadSubmission("request body holds a NUL character (\\u0000), which no database stores alike")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadSubmission("request body holds a lone surrogate (e.g. \\ud800): not valid Unicode") from None


def parse_submission(body: bytes, questions: dict[str, tuple[int, int]]) -> Submission:
    """Validate a submission body against a quiz's questions (``key -> (correct choice, number of choices)``)."""
    if len(body) > MAX_BODY_BYTES:
        raise BadSubmission(f"request body over {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
    except BadSubmission:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: "[[[[...]]]]" nested too deep
        raise BadSubmission("request body is not JSON") from None
    _check_storable(data)
    if not isinstance(data, dict):
        raise BadSubmission("request body must be a JSON object")
    student = data.get("student")
    if not _is_int(student) or student <= 0:
        raise BadSubmission("'student' must be a positive integer")
    answers = data.get("answers")
    if not isinstance(answers, dict) or not answers:
        raise BadSubmission("'answers' must be a non-empty object of question keys (q1, q2...)")
    clean: dict[str, dict[str, Any]] = {}
    for key, answer in answers.items():
        if key not in questions:
            raise BadSubmission(f"unknown question {key!r}")
        if not isinstance(answer, dict):
            raise BadSubmission(f"answer {key!r} must be an object with a 'choice'")
        choice = answer.get("choice")
        if not _is_int(choice) or not 0 <= choice < questions[key][1]:
            raise BadSubmission(f"answer {key!r}: 'choice' must be an integer from 0 to {questions[key][1] - 1}")
        time_ms = answer.get("time_ms", 0)
        if not _is_int(time_ms) or not 0 <= time_ms <= MAX_TIME_MS:
            raise BadSubmission(f"answer {key!r}: 'time_ms' must be an integer from 0 to {MAX_TIME_MS}")
        changed = answer.get("changed", False)
        if not isinstance(changed, bool):
            raise BadSubmission(f"answer {key!r}: 'changed' must be true or false")
        clean[key] = {"choice": choice, "time_ms": time_ms, "changed": changed}
    meta = data.get("meta", {})
    if not isinstance(meta, dict) or len(json.dumps(meta)) > MAX_META_CHARS:
        raise BadSubmission(f"'meta' must be an object of at most {MAX_META_CHARS} characters")
    return Submission(student=student, answers=clean, meta=meta)
