"""The parity suite's catalogue: small Django queries (and writes), each run unchanged on every backend.

A probe is a plain function ``(alias) -> value``: it runs against the database alias it is given and returns a
JSON-able value (or raises, which the runner records as "unsupported"). Probes register themselves with
:func:`probe`; :func:`catalogue` imports the probe modules (which need Django to be set up) and returns them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

ProbeFunc = Callable[[str], Any]

# Modules in the order their probes appear in tables and reports.
MODULES = (
    "jsonfield",
    "strings",
    "queries",
    "writes",
    "locking",
    "times",
    "ddl",
    "transactions",
    "constraints",
    "expressions",
    "migrations",
    "isolation",
    "functions",
    "lookups",
    "aggregates",
)


@dataclass(frozen=True)
class Probe:
    """One behaviour to compare: a name, what it checks, the code, and what to do when backends disagree."""

    name: str
    category: str
    title: str
    func: ProbeFunc = field(repr=False)
    hint: str
    # Django JSON lookups (or "order_by") this probe exercises; the audit flags them when the probe differs.
    json_lookups: tuple[str, ...] = ()


_REGISTRY: dict[str, Probe] = {}


def probe(
    category: str, title: str, *, hint: str, json_lookups: tuple[str, ...] = ()
) -> Callable[[ProbeFunc], ProbeFunc]:
    """Register the decorated function as a probe named after it."""

    def register(func: ProbeFunc) -> ProbeFunc:
        name = func.__name__
        if name in _REGISTRY:
            raise ValueError(f"duplicate probe name {name!r}")
        _REGISTRY[name] = Probe(name, category, title, func, hint, json_lookups)
        return func

    return register


def catalogue() -> list[Probe]:
    """Every probe, in catalogue order (Django must be set up: probe modules import models)."""
    for module in MODULES:
        importlib.import_module(f"dbbench.parity.probes.{module}")
    return list(_REGISTRY.values())


@contextmanager
def rolled_back(alias: str) -> Iterator[None]:
    """A transaction that is always rolled back: write probes leave nothing behind, even in the scratch DB."""
    from django.db import transaction

    with transaction.atomic(using=alias):
        yield
        transaction.set_rollback(True, using=alias)


def attempt(alias: str, action: Callable[[], object], *, savepoint: bool = True) -> str:
    """Run ``action``; ``"ok"`` or the exception's class name (where the behaviour *is* the error).

    Database errors only: anything else (a bug in the probe) propagates and shows as an error. The savepoint
    keeps an enclosing transaction usable after the error; DDL runs without one (MySQL commits DDL at once).
    """
    from django.db import DatabaseError, transaction

    try:
        if savepoint:
            with transaction.atomic(using=alias):
                action()
        else:
            action()
    except DatabaseError as exc:
        return type(exc).__name__
    return "ok"
