"""The backends dbbench knows, by family and by URL scheme."""

from __future__ import annotations

from dbbench.backends.mysql import MySQLSpec
from dbbench.backends.postgres import PostgresSpec
from dbbench.backends.spec import BackendSpec


def _build_backends() -> dict[str, BackendSpec]:
    specs: list[BackendSpec] = [PostgresSpec(), MySQLSpec()]
    return {spec.family: spec for spec in specs}


BACKENDS: dict[str, BackendSpec] = _build_backends()


def spec_for_scheme(scheme: str) -> BackendSpec | None:
    """The backend for a URL scheme (``postgres``, ``mysql``, ``mariadb``...), or None."""
    for spec in BACKENDS.values():
        if scheme.lower() in spec.schemes:
            return spec
    return None
