"""Model families, found by name: each module of this package that defines ``FAMILY`` is one."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from conveyor_core.families.base import LabelTask, ModelFamily, UnknownFamilyError

__all__ = ["LabelTask", "ModelFamily", "UnknownFamilyError", "all_families", "get"]


@cache
def all_families() -> dict[str, ModelFamily]:
    found: dict[str, ModelFamily] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        family = getattr(module, "FAMILY", None)
        if isinstance(family, ModelFamily):
            found[family.name] = family
    return found


def get(name: str) -> ModelFamily:
    try:
        return all_families()[name]
    except KeyError:
        raise UnknownFamilyError(f"no model family {name!r}; known: {sorted(all_families())}") from None
