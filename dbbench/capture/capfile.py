"""Capture files: the parts each captured process wrote, merged into one self-describing file, and read back.

A capture file is a dbbench result of kind ``capture`` (written mode 0600: it holds the app's queries and,
unless ``--no-params``, their parameter values). Its data::

    {"format": 1, "django": "5.2.19", "project": {"name": ..., "settings": ...}, "params": true,
     "shapes": [{"id", "vendor", "sql", "source": "orm"|"raw", "kind", "model", "count", "seconds",
                 "instances": [{"seconds", "site", "params", "query"}]}], "processes": 3, "seconds": ...}

A shape is one SQL text as sent (placeholders, not values) on one backend vendor: counts and total time cover
every statement of that shape, ``instances`` only the sample kept.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dbbench.capture.hook import FORMAT, KEEP_FIRST
from dbbench.errors import ResultsError
from dbbench.results import load_result, write_result

KIND = "capture"


def shape_id(vendor: str, sql: str) -> str:
    """A short stable name for a shape (the same SQL on the same vendor gets the same id in every capture)."""
    return hashlib.sha1(f"{vendor}\n{sql}".encode()).hexdigest()[:10]


def merge(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One capture from the parts of several processes (gunicorn workers, runserver's reloader child...)."""
    shapes: dict[tuple[str, str], dict[str, Any]] = {}
    samples: dict[tuple[str, str], list[tuple[list[dict[str, Any]], int]]] = {}  # per part: (instances, count)
    first: dict[str, Any] = {}
    processes, started, ended = 0, None, None
    for part in parts:
        processes += 1
        first = first or part
        started = min(started, part["started"]) if started else part["started"]
        ended = max(ended, part["ended"]) if ended else part["ended"]
        for shape in part["shapes"]:
            key = (shape["vendor"], shape["sql"])
            samples.setdefault(key, []).append((list(shape["instances"]), shape["count"]))
            into = shapes.get(key)
            if into is None:
                shapes[key] = dict(shape, id=shape_id(*key))
                continue
            into["count"] += shape["count"]
            into["seconds"] += shape["seconds"]
    keep = max(int(first.get("keep") or KEEP_FIRST), 1)
    for key, shape in shapes.items():
        shape["instances"] = _weighted_sample(samples[key], keep)
    ordered = sorted(shapes.values(), key=lambda s: -s["seconds"])
    return {
        "format": FORMAT,
        "django": first.get("django", ""),
        "project": first.get("project", {}),
        "params": bool(first.get("params", True)),
        "keep": first.get("keep"),
        "sample": first.get("sample", 1.0),
        "processes": processes,
        "seconds": round((ended or 0) - (started or 0), 3),
        "statements": sum(s["count"] for s in ordered),
        "shapes": ordered,
    }


def _weighted_sample(parts: list[tuple[list[dict[str, Any]], int]], keep: int) -> list[dict[str, Any]]:
    """``keep`` instances drawn from the processes' samples in proportion to the statements each one saw.

    Each part's instances are a uniform sample of its own statements, so an instance stands for ``count / kept``
    of them; a weighted draw without replacement (Efraimidis-Spirakis: the largest ``u ** (1 / weight)``) keeps
    the merged sample uniform over all processes' statements. Taking the first process's instances instead left a
    replay with one gunicorn worker's arguments. Seeded: merging the same parts gives the same capture.
    """
    rng = random.Random(0)
    keyed = [
        (rng.random() ** (len(instances) / count), instance)
        for instances, count in parts
        if instances and count > 0
        for instance in instances
    ]
    if len(keyed) <= keep:
        return [instance for _, instance in keyed]
    keyed.sort(key=lambda pair: -pair[0])
    return [instance for _, instance in keyed[:keep]]


def read_parts(folder: Path) -> list[dict[str, Any]]:
    parts = []
    for path in sorted(folder.glob("part-*.json")):
        try:
            parts.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # a part being replaced when the process was killed: its previous flush is gone too
    return parts


def write(path: Path, capture: dict[str, Any]) -> Path:
    return write_result(path, KIND, capture)  # results.PRIVATE: mode 0600


def load(path: Path, *, django_version: str | None = None, project: dict[str, str] | None = None) -> dict[str, Any]:
    """Read a capture; one line (:class:`ResultsError`) for a file that is not one, or one from another Django
    version or another project than the one given."""
    _, document = load_result(Path(path), KIND)
    data = document["data"]
    if data.get("format") != FORMAT or not isinstance(data.get("shapes"), list):
        raise ResultsError(f"{path}: capture format {data.get('format')!r} is not supported ({FORMAT})")
    if django_version and data.get("django") != django_version:
        raise ResultsError(
            f"{path}: captured with Django {data['django']}, this replay runs Django {django_version}: pickled "
            "queries only load on the Django version that made them (capture again)"
        )
    if project is not None:
        mine = (data.get("project") or {}).get("name"), (data.get("project") or {}).get("settings")
        theirs = project.get("name"), project.get("settings")
        if mine != theirs:
            raise ResultsError(
                f"{path}: captured from project {mine[0]!r} (settings {mine[1]}), not {theirs[0]!r} "
                f"(settings {theirs[1]})"
            )
    return data


QUIZ_PROJECT = {"name": "dbbench-quiz", "settings": "dbbench.settings.all"}


def project_identity(root: Path, settings: str) -> dict[str, str]:
    """What a replay checks a capture against: the project's folder name and its settings module."""
    return {"name": root.name, "settings": settings}
