"""Database targets: a name plus a URL, read from the environment or the command line.

A target is what every stage works on. The two defaults are ``postgres`` and ``mysql``; a user may name any
number of targets (``DBBENCH_TARGETS="pg15=postgres://...,pg17=postgres://..."``), for example the same server
twice as a control.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from dbbench.backends.registry import BACKENDS, default_urls, spec_for_scheme
from dbbench.backends.spec import BackendSpec
from dbbench.errors import ConfigError, mask_secrets, mask_url

# Defaults that work with this machine's local servers and with docker-compose.yml (same ports, users,
# empty password / trust auth): each family's ``default_target``, ``postgres`` and ``mysql``.
DEFAULT_URLS: dict[str, str] = default_urls()
ENV_URL = "DBBENCH_{name}_URL"
ENV_TARGETS = "DBBENCH_TARGETS"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
# "default" is Django's own alias (a target under it would share another target's connection) and "all" is what
# --backend takes for every target.
RESERVED_NAMES = frozenset({"default", "all"})
MAX_DATABASE_NAME = 63  # PostgreSQL's limit (MariaDB's is 64)
# Entries of a target list are split only where a new "name=" starts: a "," inside a password stays in its URL.
_ENTRY_SPLIT = re.compile(r"[,\s]+(?=[a-z][a-z0-9_]*=[a-z][a-z0-9+.-]*://)", re.I)


@dataclass(frozen=True)
class Target:
    """One database server and database that dbbench measures, under an alias."""

    name: str
    url: str
    spec: BackendSpec
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """``postgresql`` or ``mysql`` (MySQL and MariaDB speak the same protocol)."""
        return self.spec.family

    @property
    def safe_url(self) -> str:
        """The URL with its password masked: the only form ever printed or written.

        The password as parsed is removed first (both spellings), so a ``?password=`` holding "@" or "/" cannot
        fool the pattern that masks what is left.
        """
        return mask_secrets(self.url, [self])

    def with_database(self, database: str) -> Target:
        """The same server under another database name (tests and rehearsals use their own)."""
        scheme = urlsplit(self.url).scheme
        userinfo = quote(self.user, safe="")
        if self.password:
            userinfo += ":" + quote(self.password, safe="")
        query = urlencode(self.options)  # without a ?password= (it moved into the userinfo)
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address keeps its brackets
        url = f"{scheme}://{userinfo}@{host}:{self.port}/{database}" + (f"?{query}" if query else "")
        return parse_target(self.name, url)

    def django_database(self) -> dict[str, object]:
        """The ``DATABASES`` entry for this target."""
        return self.spec.django_settings(self)


def parse_target(name: str, url: str) -> Target:
    """Parse ``scheme://user:password@host:port/database?opt=value`` into a :class:`Target`."""
    if not _NAME_RE.match(name):
        raise ConfigError(f"bad target name {name!r}: use lower-case letters, digits and _ (e.g. pg15)")
    if name in RESERVED_NAMES:
        raise ConfigError(f"bad target name {name!r}: reserved ({', '.join(sorted(RESERVED_NAMES))}); pick another")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"malformed URL for target {name!r}: {mask_url(url)} ({exc})") from None
    if not parts.scheme or "://" not in url:
        raise ConfigError(f"malformed URL for target {name!r}: {mask_url(url)} (expected scheme://host/db)")
    spec = spec_for_scheme(parts.scheme)
    if spec is None:
        known = ", ".join(sorted({s for b in BACKENDS.values() for s in b.schemes}))
        raise ConfigError(f"unknown URL scheme {parts.scheme!r} for target {name!r} (known: {known})")
    if not parts.hostname:
        raise ConfigError(f"malformed URL for target {name!r}: {mask_url(url)} (no host)")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ConfigError(f"malformed URL for target {name!r}: {mask_url(url)} (no database name)")
    check_database_name(database, f"for target {name!r}")
    options = dict(parse_qsl(parts.query))
    password = unquote(parts.password or "")
    if "password" in options:  # libpq and MySQLdb take it as a keyword too: it must not be passed twice
        if password:
            raise ConfigError(f"malformed URL for target {name!r}: {mask_url(url)} (two passwords)")
        password = options.pop("password")
    return Target(
        name=name,
        url=url.strip(),
        spec=spec,
        host=parts.hostname,
        port=port or spec.default_port,
        user=unquote(parts.username or spec.default_user),
        password=password,
        database=database,
        options=options,
    )


def check_database_name(database: str, where: str) -> None:
    """Refuse a database name dbbench would have to quote (or that the server would cut)."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", database):
        raise ConfigError(f"bad database name {database!r} {where}: letters, digits and _ only")
    if len(database) > MAX_DATABASE_NAME:
        raise ConfigError(f"bad database name {database!r} {where}: at most {MAX_DATABASE_NAME} characters")


def parse_target_list(text: str) -> list[Target]:
    """Parse ``name=url,name=url`` (commas or whitespace between entries)."""
    targets: list[Target] = []
    for item in _ENTRY_SPLIT.split(text.strip()):
        if not item:
            continue
        name, sep, url = item.partition("=")
        if not sep:
            raise ConfigError(f"bad target {mask_url(item)!r}: expected name=url, e.g. pg=postgres://host/db")
        targets.append(parse_target(name.strip(), url.strip()))
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise ConfigError(f"target names must be unique: {', '.join(names)}")
    if not targets:
        raise ConfigError(f"{ENV_TARGETS} is set but names no target")
    return targets


def targets_from_env(environ: Mapping[str, str] | None = None) -> list[Target]:
    """The configured targets: ``DBBENCH_TARGETS`` if set, else the two defaults (each overridable)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_TARGETS, "").strip():
        return parse_target_list(env[ENV_TARGETS])
    return [parse_target(name, env.get(ENV_URL.format(name=name.upper())) or url) for name, url in DEFAULT_URLS.items()]


def baseline(targets: list[Target]) -> Target:
    """The team's current database, which every other target is compared with: the first of a baseline family
    (PostgreSQL), else the first (as the report picks it from the result files)."""
    return next((t for t in targets if t.spec.baseline), targets[0])


def select_targets(targets: list[Target], wanted: str | None) -> list[Target]:
    """Filter by a ``--backend`` value: ``all`` (or None), one name, or a comma-separated list."""
    if wanted is None or wanted == "all":
        return targets
    by_name = {t.name: t for t in targets}
    chosen: list[Target] = []
    for name in wanted.split(","):
        name = name.strip()
        if name not in by_name:
            raise ConfigError(f"unknown backend {name!r} (configured: {', '.join(by_name)}, or all)")
        chosen.append(by_name[name])
    return chosen
