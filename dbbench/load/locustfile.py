"""Locust: students taking quizzes on the quiz site, with think time.

Run by ``dbbench load`` (which starts the site and passes the options), or by hand, e.g. distributed::

    locust -f dbbench/locustfile.py --master --headless -H http://127.0.0.1:8000 -u 100 -r 20 -t 60s \
        --expect-workers 2 --dbbench-students 1-5000 --dbbench-output figures.json
    locust -f dbbench/locustfile.py --worker --master-host 127.0.0.1      # twice, on this or other machines

Request mix (task weights; a quiz is two requests with the student's answering time between them), per ten
tasks on average: 6 quizzes taken (6 x ``GET /quizzes/[id]/`` + 6 x ``POST /quizzes/[id]/attempts/``),
2 x ``GET /students/[id]/attempts/`` (history), 1 x ``GET /quizzes/[id]/leaderboard/``, 1 x ``GET /quizzes/``
(catalog): 16 requests, 37.5% of them writes. Every request follows a think time drawn uniformly from
``--dbbench-think`` (default 1-5 s). Each simulated student is one seeded student (``--dbbench-students``).

Only Locust should import this module: importing ``locust`` monkey-patches the whole process with gevent.
"""

from __future__ import annotations

import json
import random
import time
from functools import cache
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from dbbench.load.stats import TimingHistograms, parse_ids
from dbbench.results import atomic_write_text

DEFAULT_THINK = "1-5"
TIMEOUT_S = 10.0  # a request still unanswered after 10 s counts as failed: no user waits longer
DEVICES = ("mobile", "desktop", "tablet")
BROWSERS = (("Firefox", "131.0"), ("Chrome", "129.0"), ("Safari", "18.0"), ("Edge", "129.0"))


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    # Custom options travel from the master to its workers when the test starts.
    parser.add_argument("--dbbench-students", default="", help="seeded student ids, e.g. 1-5000 or 1-10,12,15-20")
    parser.add_argument("--dbbench-think", default=DEFAULT_THINK, help="think time range in seconds, e.g. 1-5")
    parser.add_argument(
        "--dbbench-settle", type=float, default=None, help="seconds after ramp-up before figures start (think max)"
    )
    parser.add_argument("--dbbench-output", default="", help="write the final figures (JSON) here, for dbbench")


# The measured window: from ramp-up's end plus a settling time, to the stop. Locust's own --reset-stats resets
# the moment the last user is spawned, when the last users' first requests are still in flight: they would
# count as steady-state figures. Waiting one think time more lets every user make its first request first.
_window: dict[str, Any] = {}
RESET_MESSAGE = "dbbench_reset"


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    _window["environment"] = environment
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(RESET_MESSAGE, _reset_worker)


def _reset_worker(environment: Environment, msg: Any, **_: Any) -> None:
    assert environment.runner is not None  # a message reaches a worker through its runner
    environment.runner.stats.reset_all()
    _timing.reset()


# Server-Timing of every response (load/timing.py): SQL time and the request's time inside Django, beside the
# whole request as Locust saw it. Workers send theirs with each report to the master, which merges them.
_timing = TimingHistograms()
TIMING_KEY = "dbbench_timing"


@events.request.add_listener
def _timed(response: Any = None, response_time: float | None = None, exception: Any = None, **_: Any) -> None:
    if response is None or exception is not None or response_time is None:
        return
    headers = getattr(response, "headers", None)
    header = headers.get("Server-Timing") or headers.get("server-timing") if headers is not None else None
    if header:
        _timing.add(header, float(response_time))


@events.report_to_master.add_listener
def _send_timing(client_id: str, data: dict[str, Any]) -> None:
    data[TIMING_KEY] = _timing.as_dict()
    _timing.reset()


@events.worker_report.add_listener
def _merge_timing(client_id: str, data: dict[str, Any]) -> None:
    if TIMING_KEY in data:
        _timing.merge(data[TIMING_KEY])


@events.test_start.add_listener
def _started(environment: Environment, **_: Any) -> None:
    # On a master, the workers connected when the test starts (it waits for --expect-workers).
    _window["workers"] = getattr(environment.runner, "worker_count", 0)


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_: Any) -> None:
    environment = _window.get("environment")
    if environment is None or isinstance(environment.runner, WorkerRunner):
        return
    _window["users"] = user_count
    settle = environment.parsed_options.dbbench_settle
    if settle is None:
        settle = parse_think(environment.parsed_options.dbbench_think)[1]
    gevent.spawn_later(settle, _reset, environment)


def _reset(environment: Environment) -> None:
    if isinstance(environment.runner, MasterRunner):
        environment.runner.send_message(RESET_MESSAGE)  # workers drop what they have not reported yet
    assert environment.runner is not None  # the test is running: _init saw its runner
    environment.runner.stats.reset_all()
    _timing.reset()
    _window["reset_at"] = time.time()


@events.test_stop.add_listener
def _stopped(environment: Environment, **_: Any) -> None:
    _window.setdefault("stopped_at", time.time())


@events.quitting.add_listener
def _write_figures(environment: Environment, **_: Any) -> None:
    """On the master (or a lone runner): every endpoint's full figures, histogram included, as one JSON file."""
    path = environment.parsed_options.dbbench_output if environment.parsed_options else ""
    if not path or isinstance(environment.runner, WorkerRunner):
        return
    stats = environment.stats
    document = {
        "reset_at": _window.get("reset_at"),
        "stopped_at": _window.get("stopped_at", time.time()),
        "users": _window.get("users"),
        "workers": _window.get("workers", 0),
        # serialize() keeps the response-time histogram; serialize_stats() would clear it.
        "entries": [entry.serialize() for entry in stats.entries.values()],
        "errors": [error.serialize() for error in stats.errors.values()],
        "server_timing": _timing.as_dict(),
    }
    # Atomic: dbbench reads the file once Locust exits, and a half-written one (disk full, killed) must not parse.
    atomic_write_text(Path(path), json.dumps(document))


def parse_think(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


def _json(response: Any, status: int = 200) -> dict[str, Any]:
    """The response's JSON object, or {} (and the request marked failed) when a success does not carry one."""
    if response.status_code != status:
        return {}
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        response.failure("response is not a JSON object")
        return {}
    return data


@cache
def _students(text: str) -> tuple[int, ...]:
    return parse_ids(text)


class Student(FastHttpUser):
    """One student: browses the catalog, takes quizzes, looks at their history and leaderboards."""

    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S

    def wait_time(self) -> float:
        low, high = parse_think(self.environment.parsed_options.dbbench_think)
        return random.uniform(low, high)

    def on_start(self) -> None:
        students = _students(self.environment.parsed_options.dbbench_students)
        if not students:
            raise StopUser("no --dbbench-students given: nothing to log in as")
        self.student = random.choice(students)
        self.quizzes: list[int] = []
        # Students arrive over a think time, not all in the same millisecond: no artificial thundering herd.
        gevent.sleep(random.uniform(0, parse_think(self.environment.parsed_options.dbbench_think)[1]))
        self.catalog()

    @task(1)
    def catalog(self) -> None:
        with self.client.get("/quizzes/", name="/quizzes/", catch_response=True) as response:
            ids = [q["id"] for q in _json(response).get("quizzes", [])]
            if response.status_code == 200 and not ids:
                response.failure("catalog is empty")
        if ids:
            self.quizzes = ids

    @task(6)
    def take_quiz(self) -> None:
        if not self.quizzes:
            return
        quiz_id = random.choice(self.quizzes)
        with self.client.get(f"/quizzes/{quiz_id}/", name="/quizzes/[id]/", catch_response=True) as response:
            questions = _json(response).get("questions", [])
            if response.status_code == 200 and not questions:
                response.failure("quiz without questions")
        if not questions:
            return
        self.wait()  # answering takes the student a while
        answers = {
            f"q{q['position']}": {
                "choice": random.randrange(len(q["choices"])),
                "time_ms": random.randint(800, 15_000),
                "changed": random.random() < 0.15,
            }
            for q in questions
        }
        name, version = random.choice(BROWSERS)
        body = {
            "student": self.student,
            "answers": answers,
            "meta": {"device": random.choice(DEVICES), "browser": {"name": name, "version": version}},
        }
        with self.client.post(
            f"/quizzes/{quiz_id}/attempts/", json=body, name="/quizzes/[id]/attempts/", catch_response=True
        ) as response:
            if response.status_code == 201 and not 0 <= _json(response, 201).get("score", -1) <= 100:
                response.failure("no score from 0 to 100 in the answer")

    @task(2)
    def history(self) -> None:
        self.client.get(f"/students/{self.student}/attempts/", name="/students/[id]/attempts/")

    @task(1)
    def leaderboard(self) -> None:
        if self.quizzes:
            quiz_id = random.choice(self.quizzes)
            self.client.get(f"/quizzes/{quiz_id}/leaderboard/", name="/quizzes/[id]/leaderboard/")
