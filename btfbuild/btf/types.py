"""BTF type kinds as typed records.

One class per kind, mirroring ``struct btf_type`` and the per-kind data that follows it in
``include/uapi/linux/btf.h``. Names are kept as string-table offsets (``name_off``) so that a BTF
read and written again is byte-identical; :class:`btfbuild.btf.model.Btf` resolves them.

kind_flag semantics are spelled out as fields rather than a raw bit:

* STRUCT/UNION ``bitfield_encoding``: member offsets carry ``bitfield_size << 24 | bit_offset``.
* ENUM/ENUM64 ``signed``: values are signed.
* FWD ``is_union``: forward declaration of a union rather than a struct.
* FUNC ``linkage`` lives in vlen; VAR ``linkage`` in the trailing ``btf_var``.

The records behave as ``@dataclass(slots=True)`` classes would (positional or keyword
construction, the same defaults, ``==`` by class and fields, unhashable, the dataclass ``repr``,
``__match_args__``) but are written out by hand: building some 25 dataclasses cost ~11 ms at
import (``dataclasses`` and ``inspect`` included), a tenth of ``btfbuild dump``'s own time. Each
``__init__`` sets every field itself, without ``super()``: vmlinux makes ~300k of these objects.

The per-member records of STRUCT/UNION, FUNC_PROTO and ENUM/ENUM64 (~170k in vmlinux) are built
only when first asked for: the reader keeps each type's trailing words as they were read (in the
host's byte order), and the first access to ``members``, ``params`` or ``values`` of any of them
builds those of all the types of that reading (:class:`ReadBatch`). Building them was ~40% of
reading vmlinux, and the raw and C formats of ``btfbuild dump`` need no objects: they read the
words (``words``, :func:`words_of`, ``value_pairs``) and ``vlen``.
"""

from __future__ import annotations

import gc
import struct
import weakref
from collections.abc import Iterator, Sequence
from enum import IntEnum, IntFlag
from itertools import starmap
from operator import attrgetter
from typing import Any, ClassVar, Final, Generic, Protocol, TypeVar, overload


class Kind(IntEnum):
    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


KIND_MAX = Kind.ENUM64


class IntEncoding(IntFlag):
    NONE = 0
    SIGNED = 1
    CHAR = 2
    BOOL = 4


class FuncLinkage(IntEnum):
    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


class VarLinkage(IntEnum):
    STATIC = 0
    GLOBAL_ALLOCATED = 1
    GLOBAL_EXTERN = 2


class _Record:
    """``==``, ``repr`` and ``__hash__ = None`` as a dataclass's, over ``__match_args__``
    (every field, in order, as in a dataclass)."""

    __slots__ = ()
    __match_args__: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple([getattr(self, f) for f in self.__match_args__])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, _Record)
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq

    def __repr__(self) -> str:
        fields = ", ".join([f"{f}={getattr(self, f)!r}" for f in self.__match_args__])
        return f"{type(self).__qualname__}({fields})"


# the default of a list field, as a dataclass's ``field(default_factory=list)``: a fresh list
# per object (an explicit argument, even None, is kept as given); never stored nor changed
_NEW_LIST: Final[list[Any]] = []

# the trailing words of a type in the host's byte order (the reader swaps those of foreign BTF)
_PAIR: Final = struct.Struct("=II")  # btf_param; btf_enum (unsigned)
_SIGNED_PAIR: Final = struct.Struct("=Ii")  # btf_enum of a signed enum
_TRIPLE: Final = struct.Struct("=III")  # btf_member; btf_enum64


class BtfType(_Record):
    """Common part of every type: the offset of its name in the string table (0: anonymous)."""

    __slots__ = ("name_off",)
    __match_args__ = ("name_off",)
    name_off: int
    kind: ClassVar[Kind] = Kind.UNKN

    def __init__(self, name_off: int) -> None:
        self.name_off = name_off

    def referenced_ids(self) -> list[int]:
        """Type ids this type refers to, in encoding order."""
        return []


class Void(BtfType):
    """Type id 0; never encoded."""

    __slots__ = ()


class Int(BtfType):
    """BTF_KIND_INT: size in bytes, then encoding, bit offset and bit count."""

    __slots__ = ("bit_offset", "bits", "encoding", "size")
    __match_args__ = ("name_off", "size", "encoding", "bit_offset", "bits")
    size: int
    encoding: int  # IntEncoding bits as stored (unknown bits are kept for validation)
    bit_offset: int
    bits: int
    kind: ClassVar[Kind] = Kind.INT

    def __init__(self, name_off: int, size: int, encoding: int, bit_offset: int,
                 bits: int) -> None:
        self.name_off = name_off
        self.size = size
        self.encoding = encoding
        self.bit_offset = bit_offset
        self.bits = bits


class Float(BtfType):
    """BTF_KIND_FLOAT: a floating-point type of *size* bytes."""

    __slots__ = ("size",)
    __match_args__ = ("name_off", "size")
    size: int
    kind: ClassVar[Kind] = Kind.FLOAT

    def __init__(self, name_off: int, size: int) -> None:
        self.name_off = name_off
        self.size = size


class RefType(BtfType):
    """A kind whose only payload is the referenced type id."""

    __slots__ = ("type_id",)
    __match_args__ = ("name_off", "type_id")
    type_id: int

    def __init__(self, name_off: int, type_id: int) -> None:
        self.name_off = name_off
        self.type_id = type_id

    def referenced_ids(self) -> list[int]:
        return [self.type_id]


class Ptr(RefType):
    """BTF_KIND_PTR."""

    __slots__ = ()
    kind: ClassVar[Kind] = Kind.PTR


class Typedef(RefType):
    """BTF_KIND_TYPEDEF."""

    __slots__ = ()
    kind: ClassVar[Kind] = Kind.TYPEDEF


class Volatile(RefType):
    """BTF_KIND_VOLATILE."""

    __slots__ = ()
    kind: ClassVar[Kind] = Kind.VOLATILE


class Const(RefType):
    """BTF_KIND_CONST."""

    __slots__ = ()
    kind: ClassVar[Kind] = Kind.CONST


class Restrict(RefType):
    """BTF_KIND_RESTRICT."""

    __slots__ = ()
    kind: ClassVar[Kind] = Kind.RESTRICT


class TypeTag(RefType):
    """BTF_KIND_TYPE_TAG: the name is the tag."""

    __slots__ = ("is_attr",)
    __match_args__ = ("name_off", "type_id", "is_attr")
    is_attr: bool  # kind_flag (kernels 6.14+): the tag is a plain __attribute__
    kind: ClassVar[Kind] = Kind.TYPE_TAG

    def __init__(self, name_off: int, type_id: int, is_attr: bool = False) -> None:
        self.name_off = name_off
        self.type_id = type_id
        self.is_attr = is_attr


class Array(BtfType):
    """BTF_KIND_ARRAY: element type, index type and element count (``struct btf_array``)."""

    __slots__ = ("index_type_id", "nelems", "type_id")
    __match_args__ = ("name_off", "type_id", "index_type_id", "nelems")
    type_id: int
    index_type_id: int
    nelems: int
    kind: ClassVar[Kind] = Kind.ARRAY

    def __init__(self, name_off: int, type_id: int, index_type_id: int, nelems: int) -> None:
        self.name_off = name_off
        self.type_id = type_id
        self.index_type_id = index_type_id
        self.nelems = nelems

    def referenced_ids(self) -> list[int]:
        return [self.type_id, self.index_type_id]


_R = TypeVar("_R")


class _Records(Generic[_R]):
    """The list attribute of a :class:`_WithRecords` kind (``members``, ``params``,
    ``values``): decoded from the words on first access; setting it drops the words."""

    __slots__ = ()

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Records[_R]: ...
    @overload
    def __get__(self, obj: _WithRecords, owner: type[Any]) -> list[_R]: ...
    def __get__(self, obj: _WithRecords | None, owner: type[Any]) -> _Records[_R] | list[_R]:
        if obj is None:
            return self
        records = obj._records
        return records if records is not None else obj._decoded()

    def __set__(self, obj: _WithRecords, records: list[_R]) -> None:
        obj._records = records
        obj._words = None
        obj._batch = None


class _WithRecords(BtfType):
    """A kind followed by a record per member, parameter or enumerator. Read from raw BTF, the
    records stay the words they were read as (host byte order) until first asked for; then
    those of the whole reading (*batch*) are decoded."""

    __slots__ = ("_batch", "_records", "_words")
    _records: list[Any] | None  # None: still the words
    _words: bytes | None  # None once the records are objects, which may then be changed
    _batch: ReadBatch | None  # the reading it came from, while still words
    _RECORD_SIZE: ClassVar[int]  # bytes per record

    def _decoded(self) -> list[Any]:
        if self._batch is not None:
            self._batch.decode()
            if self._records is not None:
                return self._records
        return self._decode_words()

    def _decode_words(self) -> list[Any]:
        assert self._words is not None
        records = self._records = self._decode(self._words)
        self._words = None
        self._batch = None
        return records

    def _decode(self, words: bytes) -> list[Any]:
        raise NotImplementedError

    def _encode(self, records: list[Any]) -> bytes:
        raise NotImplementedError

    @property
    def vlen(self) -> int:
        """The number of records, without decoding them."""
        records = self._records
        if records is not None:
            return len(records)
        return len(self._words or b"") // self._RECORD_SIZE

    def words(self) -> bytes:
        """The records as BTF has them, in the host's byte order: as read, or encoded from the
        objects."""
        if self._records is None:
            assert self._words is not None
            return self._words
        return self._encode(self._records)


class Member(_Record):
    """A member of a STRUCT or UNION (``struct btf_member``), offset in bits."""

    __slots__ = ("bit_offset", "bitfield_size", "name_off", "type_id")
    __match_args__ = ("name_off", "type_id", "bit_offset", "bitfield_size")
    name_off: int
    type_id: int
    bit_offset: int
    bitfield_size: int

    def __init__(self, name_off: int, type_id: int, bit_offset: int,
                 bitfield_size: int = 0) -> None:
        self.name_off = name_off
        self.type_id = type_id
        self.bit_offset = bit_offset
        self.bitfield_size = bitfield_size


class Composite(_WithRecords):
    """STRUCT or UNION. *words* and *batch*, in place of *members*: the ``struct btf_member``
    words as read (host byte order) and the reading they belong to."""

    __slots__ = ("bitfield_encoding", "size")
    __match_args__ = ("name_off", "size", "members", "bitfield_encoding")
    size: int
    bitfield_encoding: bool  # kind_flag
    kind: ClassVar[Kind] = Kind.STRUCT
    _RECORD_SIZE = 12

    def __init__(self, name_off: int, size: int, members: list[Member] | None = None,
                 bitfield_encoding: bool = False, words: bytes | None = None,
                 batch: ReadBatch | None = None) -> None:
        self.name_off = name_off
        self.size = size
        self._records = None if words is not None else [] if members is None else members
        self._words = words
        self._batch = batch
        self.bitfield_encoding = bitfield_encoding

    members: _Records[Member] = _Records()

    def _decode(self, words: bytes) -> list[Member]:
        triples = _TRIPLE.iter_unpack(words)
        if self.bitfield_encoding:
            return [Member(n, ty, off & 0xFFFFFF, off >> 24) for n, ty, off in triples]
        return list(starmap(Member, triples))

    def _encode(self, members: list[Member]) -> bytes:
        # the bitfield size only with bitfield_encoding, as BTF has it
        pack = _TRIPLE.pack
        if self.bitfield_encoding:
            return b"".join([pack(m.name_off, m.type_id, (m.bitfield_size << 24) | m.bit_offset)
                             for m in members])
        return b"".join([pack(m.name_off, m.type_id, m.bit_offset) for m in members])

    def referenced_ids(self) -> list[int]:
        return [m.type_id for m in self.members]


class Struct(Composite):
    """BTF_KIND_STRUCT."""

    __slots__ = ()
    kind: ClassVar[Kind] = Kind.STRUCT


class Union(Composite):
    """BTF_KIND_UNION."""

    __slots__ = ()
    kind: ClassVar[Kind] = Kind.UNION


class EnumValue(_Record):
    """An enumerator of an ENUM or ENUM64."""

    __slots__ = ("name_off", "value")
    __match_args__ = ("name_off", "value")
    name_off: int
    value: int  # interpreted with the enum's signedness

    def __init__(self, name_off: int, value: int) -> None:
        self.name_off = name_off
        self.value = value


class _EnumBase(_WithRecords):
    """What ENUM and ENUM64 share: size, enumerators, signedness. *words* and *batch*, in place
    of *values*: the ``struct btf_enum``/``btf_enum64`` words as read (host byte order) and the
    reading they belong to."""

    __slots__ = ("signed", "size")
    __match_args__ = ("name_off", "size", "values", "signed")
    size: int
    signed: bool  # kind_flag

    def __init__(self, name_off: int, size: int, values: list[EnumValue] | None = None,
                 signed: bool = False, words: bytes | None = None,
                 batch: ReadBatch | None = None) -> None:
        self.name_off = name_off
        self.size = size
        self._records = None if words is not None else [] if values is None else values
        self._words = words
        self._batch = batch
        self.signed = signed

    values: _Records[EnumValue] = _Records()

    def value_pairs(self) -> Iterator[tuple[int, int]]:
        """``(name_off, value)`` of each enumerator, without building ``values``."""
        if self._records is None:
            assert self._words is not None
            return self._pairs(self._words)
        return iter([(v.name_off, v.value) for v in self._records])

    def _pairs(self, words: bytes) -> Iterator[tuple[int, int]]:
        raise NotImplementedError

    def _decode(self, words: bytes) -> list[EnumValue]:
        return list(starmap(EnumValue, self._pairs(words)))


class Enum(_EnumBase):
    """BTF_KIND_ENUM: 32-bit values."""

    __slots__ = ()
    kind: ClassVar[Kind] = Kind.ENUM
    _RECORD_SIZE = 8

    def _pairs(self, words: bytes) -> Iterator[tuple[int, int]]:
        return (_SIGNED_PAIR if self.signed else _PAIR).iter_unpack(words)

    def _encode(self, values: list[EnumValue]) -> bytes:
        if self.signed:
            pack = _SIGNED_PAIR.pack
            return b"".join([pack(v.name_off, v.value) for v in values])
        pack = _PAIR.pack
        return b"".join([pack(v.name_off, v.value & 0xFFFFFFFF) for v in values])


class Enum64(_EnumBase):
    """BTF_KIND_ENUM64: 64-bit values."""

    __slots__ = ()
    kind: ClassVar[Kind] = Kind.ENUM64
    _RECORD_SIZE = 12

    def _pairs(self, words: bytes) -> Iterator[tuple[int, int]]:
        pairs = [(n, (hi << 32) | lo) for n, lo, hi in _TRIPLE.iter_unpack(words)]
        if self.signed:
            return iter([(n, v - (1 << 64) if v >= 1 << 63 else v) for n, v in pairs])
        return iter(pairs)

    def _encode(self, values: list[EnumValue]) -> bytes:
        pack = _TRIPLE.pack
        out = []
        for v in values:
            u = v.value & 0xFFFFFFFFFFFFFFFF
            out.append(pack(v.name_off, u & 0xFFFFFFFF, u >> 32))
        return b"".join(out)


class Fwd(BtfType):
    """BTF_KIND_FWD: a forward declaration."""

    __slots__ = ("is_union",)
    __match_args__ = ("name_off", "is_union")
    is_union: bool  # kind_flag
    kind: ClassVar[Kind] = Kind.FWD

    def __init__(self, name_off: int, is_union: bool = False) -> None:
        self.name_off = name_off
        self.is_union = is_union


class Func(BtfType):
    """BTF_KIND_FUNC: a function, typed by a FUNC_PROTO."""

    __slots__ = ("linkage", "type_id")
    __match_args__ = ("name_off", "type_id", "linkage")
    type_id: int  # the FUNC_PROTO
    linkage: int  # stored in vlen
    kind: ClassVar[Kind] = Kind.FUNC

    def __init__(self, name_off: int, type_id: int,
                 linkage: int = FuncLinkage.STATIC) -> None:
        self.name_off = name_off
        self.type_id = type_id
        self.linkage = linkage

    def referenced_ids(self) -> list[int]:
        return [self.type_id]


class Param(_Record):
    """A parameter of a FUNC_PROTO (``struct btf_param``)."""

    __slots__ = ("name_off", "type_id")
    __match_args__ = ("name_off", "type_id")
    name_off: int
    type_id: int  # 0 with name_off 0 as the last parameter: variadic

    def __init__(self, name_off: int, type_id: int) -> None:
        self.name_off = name_off
        self.type_id = type_id


class FuncProto(_WithRecords):
    """BTF_KIND_FUNC_PROTO: return type and parameters. *words* and *batch*, in place of
    *params*: the ``struct btf_param`` words as read (host byte order) and the reading they
    belong to."""

    __slots__ = ("ret_type_id",)
    __match_args__ = ("name_off", "ret_type_id", "params")
    ret_type_id: int
    kind: ClassVar[Kind] = Kind.FUNC_PROTO
    _RECORD_SIZE = 8

    def __init__(self, name_off: int, ret_type_id: int, params: list[Param] | None = None,
                 words: bytes | None = None, batch: ReadBatch | None = None) -> None:
        self.name_off = name_off
        self.ret_type_id = ret_type_id
        self._records = None if words is not None else [] if params is None else params
        self._words = words
        self._batch = batch

    params: _Records[Param] = _Records()

    def _decode(self, words: bytes) -> list[Param]:
        return list(starmap(Param, _PAIR.iter_unpack(words)))

    def _encode(self, params: list[Param]) -> bytes:
        pack = _PAIR.pack
        return b"".join([pack(p.name_off, p.type_id) for p in params])

    def referenced_ids(self) -> list[int]:
        return [self.ret_type_id, *(p.type_id for p in self.params)]

    @property
    def variadic(self) -> bool:
        return bool(self.params) and self.params[-1].type_id == 0 and self.params[-1].name_off == 0


class Var(BtfType):
    """BTF_KIND_VAR: a variable."""

    __slots__ = ("linkage", "type_id")
    __match_args__ = ("name_off", "type_id", "linkage")
    type_id: int
    linkage: int
    kind: ClassVar[Kind] = Kind.VAR

    def __init__(self, name_off: int, type_id: int, linkage: int = VarLinkage.STATIC) -> None:
        self.name_off = name_off
        self.type_id = type_id
        self.linkage = linkage

    def referenced_ids(self) -> list[int]:
        return [self.type_id]


class VarSecinfo(_Record):
    """A variable of a DATASEC (``struct btf_var_secinfo``)."""

    __slots__ = ("offset", "size", "type_id")
    __match_args__ = ("type_id", "offset", "size")
    type_id: int
    offset: int
    size: int

    def __init__(self, type_id: int, offset: int, size: int) -> None:
        self.type_id = type_id
        self.offset = offset
        self.size = size


class Datasec(BtfType):
    """BTF_KIND_DATASEC: a section and the variables in it."""

    __slots__ = ("size", "vars")
    __match_args__ = ("name_off", "size", "vars")
    size: int
    vars: list[VarSecinfo]
    kind: ClassVar[Kind] = Kind.DATASEC

    def __init__(self, name_off: int, size: int, vars: list[VarSecinfo] = _NEW_LIST) -> None:
        self.name_off = name_off
        self.size = size
        self.vars = [] if vars is _NEW_LIST else vars

    def referenced_ids(self) -> list[int]:
        return [v.type_id for v in self.vars]


class DeclTag(BtfType):
    """BTF_KIND_DECL_TAG: the name is the tag."""

    __slots__ = ("component_idx", "is_attr", "type_id")
    __match_args__ = ("name_off", "type_id", "component_idx", "is_attr")
    type_id: int
    component_idx: int  # -1: the type itself; else member/parameter index
    is_attr: bool  # kind_flag (kernels 6.14+): the tag is a plain __attribute__
    kind: ClassVar[Kind] = Kind.DECL_TAG

    def __init__(self, name_off: int, type_id: int, component_idx: int = -1,
                 is_attr: bool = False) -> None:
        self.name_off = name_off
        self.type_id = type_id
        self.component_idx = component_idx
        self.is_attr = is_attr

    def referenced_ids(self) -> list[int]:
        return [self.type_id]


class Unknown(BtfType):
    """A record the typed kinds cannot represent faithfully: an unknown kind, or reserved bits
    set. Kept raw (so writing it back is lossless) with the reason, for validation to report."""

    __slots__ = ("extra", "info", "raw_kind", "reason", "size_or_type")
    __match_args__ = ("name_off", "raw_kind", "info", "size_or_type", "extra", "reason")
    raw_kind: int
    info: int
    size_or_type: int
    extra: bytes
    reason: str

    def __init__(self, name_off: int, raw_kind: int, info: int, size_or_type: int,
                 extra: bytes = b"", reason: str = "") -> None:
        self.name_off = name_off
        self.raw_kind = raw_kind
        self.info = info
        self.size_or_type = size_or_type
        self.extra = extra
        self.reason = reason


KIND_CLASSES: dict[Kind, type[BtfType]] = {
    cls.kind: cls
    for cls in (Int, Ptr, Array, Struct, Union, Enum, Fwd, Typedef, Volatile, Const, Restrict,
                Func, FuncProto, Var, Datasec, Float, DeclTag, TypeTag, Enum64)
}

VOID = Void(0)


class _HasTypes(Protocol):
    @property
    def types(self) -> Sequence[BtfType]: ...


class ReadBatch:
    """The types one reading of raw BTF left as words (see the module's doc): the first to be
    asked for its records has those of all decoded at once, with the cyclic GC off, as the
    reader used to build them. One at a time, amid a tool's own work, the new objects made the
    GC rescan the whole model again and again (``btfbuild stats`` on vmlinux took 20% longer).
    Holds its owner (a :class:`~btfbuild.btf.model.Btf`) weakly: the model stays acyclic."""

    __slots__ = ("_owner",)

    def __init__(self, owner: _HasTypes) -> None:
        self._owner: weakref.ref[_HasTypes] | None = weakref.ref(owner)

    def decode(self) -> None:
        owner = self._owner() if self._owner is not None else None
        self._owner = None  # once: what is left decodes alone
        if owner is None:
            return
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for t in owner.types:
                if isinstance(t, _WithRecords) and t._batch is self:
                    t._decode_words()
        finally:
            if gc_was_enabled:
                gc.enable()


_HELD_WORDS = attrgetter("_words")


def words_of(records: Sequence[_WithRecords]) -> list[bytes]:
    """``words()`` of each of *records*: for many at once, reading those still as read at C
    speed (a method call each costs as much as decoding them in bulk)."""
    held = list(map(_HELD_WORDS, records))
    if None in held:  # some were decoded (or built in memory): encode them
        held = [w if w is not None else r.words() for w, r in zip(held, records, strict=True)]
    return held
