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

# scheme://user:secret@host: whatever sits between "://" and the token's last "@" is userinfo, so an unencoded
# "@", ",", "/", "?" or "#" in a password is masked whole (it may stop at another URL's "://", never cross it).
_AUTHORITY = re.compile(r"([a-z][a-z0-9+.-]*://)((?:(?!://)\S)*)@", re.I)
# scheme://user:secret with no host after it: what is left of a URL that a "," split in two.
_BARE_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://[^\s:/@,]*:)(?!\d+(?:[/\s,?]|$))[^\s/@,?]+(?=[\s,]|$)", re.I)
SECRET_PARAMS = ("password", "passwd", "pass", "pwd", "sslpassword", "passphrase", "secret", "token")
_SECRET_PARAMS = re.compile(rf"([?&;](?:{'|'.join(SECRET_PARAMS)})=)[^&\s#]*", re.I)


SHORT_SECRET = 8  # from this length a password inside a word is the password, not a coincidence


class _HasPassword(Protocol):
    @property
    def password(self) -> str | None: ...


def mask_url(text: str) -> str:
    """``text`` with every URL's password (and secrets in query parameters) replaced by ``***``."""

    def authority(m: re.Match[str]) -> str:
        user, sep, _ = m.group(2).partition(":")
        return f"{m.group(1)}{user}:***@" if sep else m.group(0)

    # Query secrets first: their value may hold an "@", which the userinfo pattern would take for the host's start.
    text = _SECRET_PARAMS.sub(r"\1***", text)
    text = _AUTHORITY.sub(authority, text)
    return _BARE_USERINFO.sub(r"\1***", text)


def mask_secrets(text: str, targets: Iterable[_HasPassword] = ()) -> str:
    """Remove every target's password from free text (a driver message, a log line), then mask any URL in it."""
    for target in targets:
        secrets = [target.password] + [
            v for k, v in (getattr(target, "options", None) or {}).items() if k.lower() in SECRET_PARAMS
        ]
        for secret in filter(None, secrets):
            for spelling in {secret, quote(secret, safe="")}:
                if len(spelling) >= SHORT_SECRET:
                    text = text.replace(spelling, "***")  # wherever it is: glued to a repr's "\\x07" too
                else:  # only where it stands alone: a short password ("es") must not garble words ("res***onse")
                    text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(spelling)}(?![A-Za-z0-9])", "***", text)
    return mask_url(text)


def one_line(exc: BaseException | str, targets: Iterable[_HasPassword] = ()) -> str:
    """An exception (or a driver's text) as one line, passwords masked: what every stage reports."""
    text = " ".join(str(exc).split())
    if not text and isinstance(exc, BaseException):
        text = type(exc).__name__
    return mask_secrets(text, targets)
