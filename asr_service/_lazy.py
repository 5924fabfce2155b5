"""Lazy package attributes: a package names where each public name lives, and the module loads on the
name's first use (so that `import asr_service.engines`, or `asr --help`, does not load every module)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `homes` maps each lazy name to the module that defines it.

    No name may also be a submodule's name: once that module is loaded, the package attribute is the
    module, and `__getattr__` is no longer asked."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home), name)

    return __getattr__
