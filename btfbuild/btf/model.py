"""The in-memory BTF object: a list of types, a string table, and optionally a base.

Split BTF is the same object with a ``base``: type ids continue after the base's last id and
string offsets after the base's string section, so every lookup (``type``, ``name``) works on the
unified view, as libbpf's ``struct btf`` does. ``types`` holds only this object's own types;
``types[0]`` has id ``start_id``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Literal, NamedTuple

from .strings import StringTable
from .types import (
    VOID,
    Array,
    BtfType,
    Composite,
    Const,
    Datasec,
    Enum,
    Enum64,
    Float,
    Func,
    FuncProto,
    Int,
    Kind,
    Ptr,
    Restrict,
    Typedef,
    TypeTag,
    Var,
    Volatile,
)

Endian = Literal["little", "big"]

_MODIFIERS = (Typedef, Volatile, Const, Restrict, TypeTag)


class RawLayout(NamedTuple):
    """Where the sections lay in the raw bytes a :class:`Btf` was read from: the header's
    fields and the total size. The validator checks them as the kernel's ``btf_parse_hdr``
    does; BTF built in memory has none."""

    hdr_len: int
    type_off: int
    type_len: int
    str_off: int
    str_len: int
    data_size: int


class Btf:
    # (__weakref__: for the ReadBatch of its types, see btfbuild.btf.types)
    __slots__ = ("__weakref__", "_ptr_size", "base", "endian", "flags", "layout", "start_id",
                 "strings", "types")
    base: Btf | None
    strings: StringTable
    types: list[BtfType]

    def __init__(
        self,
        base: Btf | None = None,
        *,
        strings: StringTable | None = None,
        endian: Endian | None = None,
    ) -> None:
        self.base = base
        self.endian: Endian = endian or (base.endian if base is not None else "little")
        self.flags = 0
        self.layout: RawLayout | None = None
        self.start_id = base.type_count if base is not None else 1
        if strings is None:
            # libbpf: an empty base table holds just the empty string; an empty split one nothing.
            strings = StringTable(b"" if base is not None else b"\0",
                                  base.strings if base is not None else None)
        self.strings = strings
        self.types = []
        self._ptr_size: int | None = None

    # -- lookups on the unified view -------------------------------------------------------

    @property
    def type_count(self) -> int:
        """Number of type ids including void (libbpf's ``btf__type_cnt``)."""
        return self.start_id + len(self.types)

    def type(self, type_id: int) -> BtfType:
        if type_id >= self.start_id:
            idx = type_id - self.start_id
            if idx < len(self.types):
                return self.types[idx]
            raise KeyError(f"type id {type_id} out of range (last is {self.type_count - 1})")
        if self.base is not None:
            return self.base.type(type_id)
        if type_id == 0:
            return VOID
        raise KeyError(f"type id {type_id} out of range")

    def has_type(self, type_id: int) -> bool:
        return 0 <= type_id < self.type_count

    def str(self, off: int) -> builtins.str:
        return self.strings.get(off)

    def name(self, t: BtfType | int) -> builtins.str:
        if isinstance(t, int):
            t = self.type(t)
        return self.strings.get(t.name_off)

    def __iter__(self) -> Iterator[tuple[int, BtfType]]:
        """This object's own types with their ids (not the base's)."""
        return enumerate(self.types, self.start_id)

    def __len__(self) -> int:
        return len(self.types)

    def all_types(self) -> Iterator[tuple[int, BtfType]]:
        """Every type of the unified view, base first, void excluded."""
        if self.base is not None:
            yield from self.base.all_types()
        yield from enumerate(self.types, self.start_id)

    def find(self, name: builtins.str, kind: Kind | None = None) -> int | None:
        """First type id (unified view) with *name* and, if given, *kind*."""
        off = self.strings.find(name)
        if off is None:
            return None
        for tid, t in self.all_types():
            if t.name_off == off and (kind is None or t.kind == kind):
                return tid
        return None

    # -- building ---------------------------------------------------------------------------

    def add(self, t: BtfType) -> int:
        """Append *t*; returns its id."""
        self.types.append(t)
        return self.type_count - 1

    def add_str(self, s: builtins.str) -> int:
        return self.strings.add(s)

    # -- type arithmetic used by dump, validation and the tools on the model ---------------

    def skip_mods_and_typedefs(self, type_id: int) -> int:
        seen = 0
        while True:
            t = self.type(type_id)
            if not isinstance(t, _MODIFIERS):
                return type_id
            type_id = t.type_id
            seen += 1
            if seen > 64:  # cycle; validation reports it
                return type_id

    def resolve_size(self, type_id: int) -> int:
        """Size in bytes of a sized type, following modifiers and arrays (libbpf semantics)."""
        nelems = 1
        for _ in range(64):
            t = self.type(type_id)
            if isinstance(t, Int | Float | Composite | Enum | Enum64 | Datasec):
                return nelems * t.size
            if isinstance(t, Ptr):
                return nelems * self.pointer_size()
            if isinstance(t, (*_MODIFIERS, Var)):
                type_id = t.type_id
                continue
            if isinstance(t, Array):
                nelems *= t.nelems
                type_id = t.type_id
                continue
            raise ValueError(f"type [{type_id}] {t.kind.name} has no size")
        raise ValueError(f"type [{type_id}]: reference chain too long")

    def pointer_size(self) -> int:
        """Guessed like libbpf: the size of 'long' if present, else 8."""
        if self._ptr_size is None:
            self._ptr_size = 8
            for _, t in self.all_types():
                if isinstance(t, Int) and self.strings.get(t.name_off) in (
                    "long int", "long unsigned int", "long", "unsigned long"
                ):
                    self._ptr_size = t.size
                    break
        return self._ptr_size

    def funcs(self) -> Iterator[tuple[int, Func, FuncProto]]:
        for tid, t in self:
            if isinstance(t, Func):
                proto = self.type(t.type_id)
                if isinstance(proto, FuncProto):
                    yield tid, t, proto
