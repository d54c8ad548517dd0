"""User-facing errors: each one is printed as a single line by the CLI, never as a traceback."""

from __future__ import annotations


class DbbenchError(Exception):
    """An error the user can act on. ``str(err)`` is one line and never holds a password."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # Collapse driver messages (often multi-line) into one line.
        super().__init__(" ".join(str(message).split()))


class ConfigError(DbbenchError):
    """Bad input: an unknown backend, a malformed URL, a bad size, a bad option."""


class ConnectionFailed(DbbenchError):
    """A server could not be reached or refused us (down, wrong password, not a database)."""


class ForeignDatabaseError(DbbenchError):
    """The database holds tables but is not marked as dbbench's own."""


class ResultsError(DbbenchError):
    """A results file is missing, empty, corrupt, or not written by dbbench."""


class StageFailed(DbbenchError):
    """A stage of ``dbbench run`` failed; completed stages are kept."""

    exit_code = 1
