"""Child side, pytest: a plugin (``-p dbbench.app.child_pytest``) that records each test's outcome and time.

A test's time is its call phase; its outcome joins its three phases: an exception in setup or teardown is an
``error``, in the call a ``failed``; ``xfail`` marks are kept apart so an expected failure is not counted as a break.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

from . import child_settings, recorder  # relative: this folder is also copied for a project's own interpreter

_state: dict[str, dict[str, Any]] = {}

# A conftest that builds the settings in code (settings.configure(...)) gets the target's databases too.
child_settings.patch_configure()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # pytest-benchmark creates its storage folder (.benchmarks) in the project at start: keep it in dbbench's.
    if hasattr(config.option, "benchmark_storage") and os.environ.get("DBBENCH_APP_WORKDIR"):
        config.option.benchmark_storage = "file://" + os.path.join(os.environ["DBBENCH_APP_WORKDIR"], "benchmarks")


def pytest_sessionstart(session: pytest.Session) -> None:
    from django.conf import settings

    # Only when pytest-django configured Django with dbbench's settings; otherwise the parent sees no "start"
    # line and says so.
    if settings.configured:
        recorder.started("pytest")
        _guard_setup()


def _guard_setup() -> None:
    """Wrap the ``setup_databases`` pytest-django calls, so a failed test database is recorded once."""
    from django.test import utils

    original = utils.setup_databases

    def setup_databases(*args: Any, **kwargs: Any) -> Any:
        with recorder.setup_guard():
            return original(*args, **kwargs)

    utils.setup_databases = setup_databases


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    recorder.begin(item.nodeid)
    _state[item.nodeid] = {"outcome": "passed", "seconds": 0.0, "error": None, "sql": [], "reason": ""}
    with recorder.capture_sql() as kept:
        _state[item.nodeid]["kept"] = kept
        yield
    state = _state.pop(item.nodeid)
    recorder.finished(item.nodeid, state["outcome"], state["seconds"], state["error"], state["sql"], state["reason"])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    state = _state.get(item.nodeid)
    if state is None:
        return
    if call.when == "call":
        # The call alone: the first test's setup also creates the test databases (pytest-django's session
        # fixture), which would make it look slow on whichever server creates databases slower.
        state["seconds"] += report.duration
    if hasattr(report, "wasxfail"):
        state["outcome"] = "xfailed" if report.skipped else "xpassed"
    elif report.skipped and state["outcome"] == "passed":
        state["outcome"] = "skipped"
        longrepr = report.longrepr
        state["reason"] = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr).removeprefix("Skipped: ")
    elif report.failed and call.excinfo is not None and call.excinfo.value is recorder.setup_failure:
        # The test database could not be built: pytest re-raises that one exception for every database test.
        state["outcome"] = "not_run"
    elif report.failed and state["error"] is None:
        state["outcome"] = "failed" if call.when == "call" else "error"
        if call.excinfo is not None:
            state["error"] = recorder.describe_error((call.excinfo.type, call.excinfo.value, call.excinfo.tb))
        state["sql"] = list(state.get("kept", ()))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        lines = [line for line in str(report.longreprtext).splitlines() if line.strip()]
        recorder.collect_error(report.nodeid, lines[-1].strip() if lines else "collection failed")
