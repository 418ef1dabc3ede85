"""The BTF model: types, strings, split BTF, raw and ELF reading and writing.

The names below are loaded on first use (PEP 562), so that the encoder's command line, which
only needs :mod:`btfbuild.btf.elf`, does not pay for importing the whole model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .io import load, load_base
    from .model import Btf
    from .raw import encode, parse
    from .strings import StringTable
    from .types import Kind

_WHERE = {"load": "io", "load_base": "io", "Btf": "model", "encode": "raw", "parse": "raw",
          "StringTable": "strings", "Kind": "types"}

__all__ = ["Btf", "Kind", "StringTable", "encode", "load", "load_base", "parse"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        # every kind class of btfbuild.btf.types is reachable from here too
        types = importlib.import_module(".types", __name__)
        if hasattr(types, name):
            return getattr(types, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
