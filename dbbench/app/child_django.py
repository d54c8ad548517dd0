"""Child side, Django's test runner: ``TEST_RUNNER`` in dbbench's settings shim points here.

A :class:`DiscoverRunner` that runs serially (parallel workers would clone test databases under names dbbench
would have to guess) and whose result class records each test's outcome, time, error and last SQL.
"""

from __future__ import annotations

import importlib
import os
import re
import time
import traceback
import unittest
from typing import Any

from django.test.runner import DiscoverRunner

from . import recorder  # relative: this folder is also copied for a project's own interpreter

# unittest's stand-in for a test module that failed to import.
_IMPORT_FAILURE = "unittest.loader._FailedTest"


class RecordingResult(unittest.TextTestResult):
    """unittest's text result, plus one event per test for dbbench."""

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802 - unittest's name
        super().startTest(test)
        self._current: unittest.TestCase | None = test
        self._outcome_name = "passed"
        self._error: dict[str, Any] | None = None
        self._reason = ""
        self._t0 = time.perf_counter()
        self._capture = recorder.capture_sql()
        self._kept = self._capture.__enter__()
        recorder.begin(test.id())

    def stopTest(self, test: unittest.TestCase) -> None:  # noqa: N802
        self._capture.__exit__(None, None, None)
        sql: list[Any] = list(self._kept) if self._error else []
        if not test.id().startswith(_IMPORT_FAILURE):  # an import failure is a crash, not a test
            recorder.finished(
                test.id(), self._outcome_name, time.perf_counter() - self._t0, self._error, sql, self._reason
            )
        self._current = None
        super().stopTest(test)

    def _set(self, outcome: str, err: Any = None) -> None:
        if self._error is None:
            self._outcome_name = outcome
            self._error = recorder.describe_error(err) if err else None

    def addError(self, test: Any, err: Any) -> None:  # noqa: N802
        super().addError(test, err)
        if test.id().startswith(_IMPORT_FAILURE):
            # unittest's message is "Failed to import test module: X" plus the traceback: its last line says why.
            lines = [line for line in str(err[1]).splitlines() if line.strip()]
            recorder.collect_error(test.id().removeprefix(_IMPORT_FAILURE + "."), lines[-1] if lines else "")
        if getattr(self, "_current", None) is not test:
            _class_error(test, err)
            return
        self._set("error", err)

    def addFailure(self, test: Any, err: Any) -> None:  # noqa: N802
        super().addFailure(test, err)
        self._set("failed", err)

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:  # noqa: N802
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._set("failed" if issubclass(err[0], test.failureException) else "error", err)

    def addSkip(self, test: Any, reason: str) -> None:  # noqa: N802
        super().addSkip(test, reason)
        if getattr(self, "_current", None) is not test:  # a whole class skipped (setUpClass raised SkipTest)
            recorder.finished(test.id(), "skipped", 0.0, None, [], str(reason))
            return
        self._set("skipped")
        self._reason = str(reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:  # noqa: N802
        super().addExpectedFailure(test, err)
        self._outcome_name = "xfailed"

    def addUnexpectedSuccess(self, test: Any) -> None:  # noqa: N802
        super().addUnexpectedSuccess(test)
        self._outcome_name = "xpassed"


class Runner(DiscoverRunner):
    """Django's own runner, serial, recording each test."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["parallel"] = 0
        super().__init__(*args, **kwargs)

    def get_resultclass(self) -> type[unittest.TextTestResult]:
        return RecordingResult

    def build_suite(self, *args: Any, **kwargs: Any) -> unittest.TestSuite:
        self._suite = super().build_suite(*args, **kwargs)
        recorder.suite_ids[:] = [t.id() for t in _tests(self._suite)]
        return self._suite

    def setup_databases(self, **kwargs: Any) -> Any:
        try:
            with recorder.setup_guard():
                config = super().setup_databases(**kwargs)
        except Exception:
            # Django's runner stops here: every test of the suite is "not run", none is a break.
            suite = getattr(self, "_suite", None)
            recorder.not_run([t.id() for t in _tests(suite) if not t.id().startswith(_IMPORT_FAILURE)])
            raise
        recorder.started("django")
        return config


def _class_error(holder: Any, err: Any) -> None:
    """A setUpClass (or tearDownClass) error arrives for a stand-in, ``setUpClass (module.Class)``, and unittest
    then skips the class's tests silently. A fixture that cannot be loaded is a set-up finding whose tests are
    "not run"; any other error is recorded on each of the class's tests, so they are compared, not lost."""
    description = str(getattr(holder, "description", holder.id()))
    match = re.fullmatch(r"(setUpClass|tearDownClass) \((.+)\)", description)
    members = [t for t in recorder.suite_ids if match and t.startswith(match.group(2) + ".")]
    error = recorder.describe_error(err)
    if not members or match.group(1) != "setUpClass":  # type: ignore[union-attr]
        recorder.finished(holder.id(), "error", 0.0, error, [])
    elif any(f.filename.endswith(os.path.join("commands", "loaddata.py")) for f in traceback.extract_tb(err[2])):
        fixtures = getattr(_class(match.group(2)), "fixtures", None) or []  # type: ignore[union-attr]
        recorder.setup_failed(error, {"fixture": ", ".join(map(str, fixtures)), "class": match.group(2)})  # type: ignore[union-attr]
        recorder.not_run(members)
    else:
        for test in members:
            recorder.finished(test, "error", 0.0, error, [])


def _class(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def _tests(suite: Any) -> list[unittest.TestCase]:
    if suite is None:
        return []
    if isinstance(suite, unittest.TestSuite):
        return [t for child in suite for t in _tests(child)]
    return [suite]
