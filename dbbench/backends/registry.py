"""The backends dbbench knows, by family and by URL scheme.

A new backend family is one module (a :class:`~dbbench.backends.spec.BackendSpec` subclass, checked for
completeness when it is defined) plus its line in :data:`FAMILIES`.
"""

from __future__ import annotations

from dbbench.backends.mysql import MySQLSpec
from dbbench.backends.postgres import PostgresSpec
from dbbench.backends.spec import BackendSpec, check_family

FAMILIES: tuple[type[BackendSpec], ...] = (PostgresSpec, MySQLSpec)

BACKENDS: dict[str, BackendSpec] = {}


def register(cls: type[BackendSpec]) -> BackendSpec:
    """Add a family (its spec instantiated once); TypeError if it is incomplete or clashes with one registered."""
    check_family(cls)  # also done when the class was defined, unless it left ``family`` to a base class
    spec = cls()
    if spec.family in BACKENDS:
        raise TypeError(f"backend family {spec.family!r} is registered twice")
    taken = {scheme: other.family for other in BACKENDS.values() for scheme in other.schemes}
    clashes = [f"{s} ({taken[s]})" for s in spec.schemes if s.lower() in taken]
    if clashes:
        raise TypeError(f"backend family {spec.family!r}: URL schemes already taken: {', '.join(clashes)}")
    BACKENDS[spec.family] = spec
    return spec


def unregister(family: str) -> None:
    """Remove a family registered with :func:`register` (tests that add one of their own)."""
    BACKENDS.pop(family, None)


for _cls in FAMILIES:
    register(_cls)


def spec_for_scheme(scheme: str) -> BackendSpec | None:
    """The backend for a URL scheme (``postgres``, ``mysql``, ``mariadb``...), or None."""
    for spec in BACKENDS.values():
        if scheme.lower() in spec.schemes:
            return spec
    return None


def spec_for_engine(engine: str) -> BackendSpec | None:
    """The backend for a Django ``ENGINE`` (a configured connection's ``settings_dict["ENGINE"]``), or None."""
    return next((spec for spec in BACKENDS.values() if spec.engine == engine), None)


def baseline_vendors() -> tuple[str, ...]:
    """What the servers of the baseline families call themselves (the report finds the baseline by it)."""
    return tuple(v for spec in BACKENDS.values() if spec.baseline for v in spec.vendors)


def durability_settings() -> tuple[str, ...]:
    """The settings of every family that decide whether a commit waits for the disk, in registry order."""
    return tuple(dict.fromkeys(name for spec in BACKENDS.values() for name in spec.durability_settings))


def default_urls() -> dict[str, str]:
    """The targets used when none is configured: alias -> URL, one per family that has a default server."""
    return dict(spec.default_target for spec in BACKENDS.values() if spec.default_target)
