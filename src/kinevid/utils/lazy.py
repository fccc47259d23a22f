"""Lazy package exports: a package lists its public names, their modules import on first use."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for a package whose public names load on first access (PEP 562).

    `kinevid motion` needs one pipeline and one text encoder; importing every pipeline (diffusers'
    autoencoders, UNets, peft) on `import kinevid.pipelines` cost seconds of start-up.

    Args:
        package (`str`): the package's `__name__`.
        exports (`Mapping[str, str]`): public name -> the submodule defining it, relative to the
            package (e.g. `"pipeline_mosa"`).

    Returns:
        `(__getattr__, __dir__)` to assign at the package's module level. A name, once loaded, is
        stored in the package so later accesses are plain attribute lookups.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{exports[name]}", package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
