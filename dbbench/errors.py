"""User-facing errors: each one is printed as a single line by the CLI, never as a traceback."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import quote


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


# --- one masked line --------------------------------------------------------------------------------------------

# scheme://user:secret@host: greedy up to the authority's last "@", so an unencoded "@" or "," in a password is
# masked whole rather than cut at its first "@".
_AUTHORITY = re.compile(r"([a-z][a-z0-9+.-]*://)([^\s/?#@]*@)*([^\s/?#@]*)@", re.I)
# scheme://user:secret with no host after it: what is left of a URL that a "," split in two.
_BARE_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://[^\s:/@,]*:)(?!\d+(?:[/\s,?]|$))[^\s/@,?]+(?=[\s,]|$)", re.I)
_SECRET_PARAMS = re.compile(r"([?&;](?:password|passwd|pass|sslpassword|secret|token)=)[^&\s#]*", re.I)


class _HasPassword(Protocol):
    password: str | None


def mask_url(text: str) -> str:
    """``text`` with every URL's password (and secrets in query parameters) replaced by ``***``."""

    def authority(m: re.Match[str]) -> str:
        userinfo = m.group(0)[len(m.group(1)) : -1]
        user, sep, _ = userinfo.partition(":")
        return f"{m.group(1)}{user}:***@" if sep else m.group(0)

    text = _AUTHORITY.sub(authority, text)
    text = _BARE_USERINFO.sub(r"\1***", text)
    return _SECRET_PARAMS.sub(r"\1***", text)


def mask_secrets(text: str, targets: Iterable[_HasPassword] = ()) -> str:
    """Remove every target's password from free text (a driver message, a log line), then mask any URL in it."""
    for target in targets:
        if target.password:
            text = text.replace(target.password, "***")
            text = text.replace(quote(target.password, safe=""), "***")
    return mask_url(text)


def one_line(exc: BaseException | str, targets: Iterable[_HasPassword] = ()) -> str:
    """An exception (or a driver's text) as one line, passwords masked: what every stage reports."""
    text = " ".join(str(exc).split())
    if not text and isinstance(exc, BaseException):
        text = type(exc).__name__
    return mask_secrets(text, targets)
