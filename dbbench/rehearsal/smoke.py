"""The ORM smoke test of a project's copy: each model's first and last rows, read through the project's own models
on the source and on the copy, field by field (JSON by value, binary as bytes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Model

from dbbench.backends.targets import Target
from dbbench.errors import mask_secrets
from dbbench.rehearsal.verify import short


def smoke_test(src: Target, dst: Target, models: Sequence[type[Model]]) -> tuple[bool, list[str]]:
    """(all equal, what was read); the caller keeps the source read-only."""
    from django.db import DatabaseError

    notes: list[str] = []
    ok = True
    read = 0
    for model in models:
        label = model._meta.label
        try:
            source = model._base_manager.using(src.name).order_by("pk")
            for obj in {o.pk: o for o in (source.first(), source.last()) if o is not None}.values():
                other = model._base_manager.using(dst.name).filter(pk=obj.pk).first()
                read += 1
                if other is None:
                    ok = False
                    notes.append(f"{label} pk={obj.pk}: missing on the copy")
                    continue
                for f in model._meta.concrete_fields:
                    a, b = _value(obj, f), _value(other, f)
                    if a != b:
                        ok = False
                        notes.append(f"{label} pk={obj.pk} {f.name}: source {short(a)}, copy {short(b)}")
        except (DatabaseError, ValueError, TypeError) as exc:  # a value the model cannot read back on one side
            ok = False
            notes.append(f"{label}: {mask_secrets(' '.join(str(exc).split()), [src, dst])}")
    notes.insert(0, f"read {read} rows of {len(models)} models through the project's models on both sides")
    return ok, notes


def _value(obj: Model, field: Any) -> Any:
    value = getattr(obj, field.attname)
    if isinstance(value, memoryview):  # bytea comes back as a memoryview, longblob as bytes
        return bytes(value)
    return value
