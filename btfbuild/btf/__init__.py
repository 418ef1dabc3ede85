"""The BTF model: types, strings, split BTF, raw and ELF reading and writing."""

from __future__ import annotations

from .io import load, load_base
from .model import Btf
from .raw import encode, parse
from .strings import StringTable
from .types import *  # noqa: F403
from .types import Kind

__all__ = ["Btf", "Kind", "StringTable", "encode", "load", "load_base", "parse"]
