"""BTF type kinds as typed records.

One dataclass per kind, mirroring ``struct btf_type`` and the per-kind data that follows it in
``include/uapi/linux/btf.h``. Names are kept as string-table offsets (``name_off``) so that a BTF
read and written again is byte-identical; :class:`btfbuild.btf.model.Btf` resolves them.

kind_flag semantics are spelled out as fields rather than a raw bit:

* STRUCT/UNION ``bitfield_encoding``: member offsets carry ``bitfield_size << 24 | bit_offset``.
* ENUM/ENUM64 ``signed``: values are signed.
* FWD ``is_union``: forward declaration of a union rather than a struct.
* FUNC ``linkage`` lives in vlen; VAR ``linkage`` in the trailing ``btf_var``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import ClassVar


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


@dataclass(slots=True)
class BtfType:
    """Common part of every type: the offset of its name in the string table (0: anonymous)."""

    name_off: int
    kind: ClassVar[Kind] = Kind.UNKN

    def referenced_ids(self) -> list[int]:
        """Type ids this type refers to, in encoding order."""
        return []


@dataclass(slots=True)
class Void(BtfType):
    """Type id 0; never encoded."""


@dataclass(slots=True)
class Int(BtfType):
    """BTF_KIND_INT: size in bytes, then encoding, bit offset and bit count."""

    size: int
    encoding: int  # IntEncoding bits as stored (unknown bits are kept for validation)
    bit_offset: int
    bits: int
    kind: ClassVar[Kind] = Kind.INT


@dataclass(slots=True)
class Float(BtfType):
    """BTF_KIND_FLOAT: a floating-point type of *size* bytes."""

    size: int
    kind: ClassVar[Kind] = Kind.FLOAT


@dataclass(slots=True)
class RefType(BtfType):
    """A kind whose only payload is the referenced type id."""

    type_id: int

    def referenced_ids(self) -> list[int]:
        return [self.type_id]


@dataclass(slots=True)
class Ptr(RefType):
    """BTF_KIND_PTR."""

    kind: ClassVar[Kind] = Kind.PTR


@dataclass(slots=True)
class Typedef(RefType):
    """BTF_KIND_TYPEDEF."""

    kind: ClassVar[Kind] = Kind.TYPEDEF


@dataclass(slots=True)
class Volatile(RefType):
    """BTF_KIND_VOLATILE."""

    kind: ClassVar[Kind] = Kind.VOLATILE


@dataclass(slots=True)
class Const(RefType):
    """BTF_KIND_CONST."""

    kind: ClassVar[Kind] = Kind.CONST


@dataclass(slots=True)
class Restrict(RefType):
    """BTF_KIND_RESTRICT."""

    kind: ClassVar[Kind] = Kind.RESTRICT


@dataclass(slots=True)
class TypeTag(RefType):
    """BTF_KIND_TYPE_TAG: the name is the tag."""

    is_attr: bool = False  # kind_flag (kernels 6.14+): the tag is a plain __attribute__
    kind: ClassVar[Kind] = Kind.TYPE_TAG


@dataclass(slots=True)
class Array(BtfType):
    """BTF_KIND_ARRAY: element type, index type and element count (``struct btf_array``)."""

    type_id: int
    index_type_id: int
    nelems: int
    kind: ClassVar[Kind] = Kind.ARRAY

    def referenced_ids(self) -> list[int]:
        return [self.type_id, self.index_type_id]


@dataclass(slots=True)
class Member:
    """A member of a STRUCT or UNION (``struct btf_member``), offset in bits."""

    name_off: int
    type_id: int
    bit_offset: int
    bitfield_size: int = 0


@dataclass(slots=True)
class Composite(BtfType):
    """STRUCT or UNION."""

    size: int
    members: list[Member] = field(default_factory=list)
    bitfield_encoding: bool = False  # kind_flag
    kind: ClassVar[Kind] = Kind.STRUCT

    def referenced_ids(self) -> list[int]:
        return [m.type_id for m in self.members]


@dataclass(slots=True)
class Struct(Composite):
    """BTF_KIND_STRUCT."""

    kind: ClassVar[Kind] = Kind.STRUCT


@dataclass(slots=True)
class Union(Composite):
    """BTF_KIND_UNION."""

    kind: ClassVar[Kind] = Kind.UNION


@dataclass(slots=True)
class EnumValue:
    """An enumerator of an ENUM or ENUM64."""

    name_off: int
    value: int  # interpreted with the enum's signedness


@dataclass(slots=True)
class Enum(BtfType):
    """BTF_KIND_ENUM: 32-bit values."""

    size: int
    values: list[EnumValue] = field(default_factory=list)
    signed: bool = False  # kind_flag
    kind: ClassVar[Kind] = Kind.ENUM


@dataclass(slots=True)
class Enum64(BtfType):
    """BTF_KIND_ENUM64: 64-bit values."""

    size: int
    values: list[EnumValue] = field(default_factory=list)
    signed: bool = False  # kind_flag
    kind: ClassVar[Kind] = Kind.ENUM64


@dataclass(slots=True)
class Fwd(BtfType):
    """BTF_KIND_FWD: a forward declaration."""

    is_union: bool = False  # kind_flag
    kind: ClassVar[Kind] = Kind.FWD


@dataclass(slots=True)
class Func(BtfType):
    """BTF_KIND_FUNC: a function, typed by a FUNC_PROTO."""

    type_id: int  # the FUNC_PROTO
    linkage: int = FuncLinkage.STATIC  # stored in vlen
    kind: ClassVar[Kind] = Kind.FUNC

    def referenced_ids(self) -> list[int]:
        return [self.type_id]


@dataclass(slots=True)
class Param:
    """A parameter of a FUNC_PROTO (``struct btf_param``)."""

    name_off: int
    type_id: int  # 0 with name_off 0 as the last parameter: variadic


@dataclass(slots=True)
class FuncProto(BtfType):
    """BTF_KIND_FUNC_PROTO: return type and parameters."""

    ret_type_id: int
    params: list[Param] = field(default_factory=list)
    kind: ClassVar[Kind] = Kind.FUNC_PROTO

    def referenced_ids(self) -> list[int]:
        return [self.ret_type_id, *(p.type_id for p in self.params)]

    @property
    def variadic(self) -> bool:
        return bool(self.params) and self.params[-1].type_id == 0 and self.params[-1].name_off == 0


@dataclass(slots=True)
class Var(BtfType):
    """BTF_KIND_VAR: a variable."""

    type_id: int
    linkage: int = VarLinkage.STATIC
    kind: ClassVar[Kind] = Kind.VAR

    def referenced_ids(self) -> list[int]:
        return [self.type_id]


@dataclass(slots=True)
class VarSecinfo:
    """A variable of a DATASEC (``struct btf_var_secinfo``)."""

    type_id: int
    offset: int
    size: int


@dataclass(slots=True)
class Datasec(BtfType):
    """BTF_KIND_DATASEC: a section and the variables in it."""

    size: int
    vars: list[VarSecinfo] = field(default_factory=list)
    kind: ClassVar[Kind] = Kind.DATASEC

    def referenced_ids(self) -> list[int]:
        return [v.type_id for v in self.vars]


@dataclass(slots=True)
class DeclTag(BtfType):
    """BTF_KIND_DECL_TAG: the name is the tag."""

    type_id: int
    component_idx: int = -1  # -1: the type itself; else member/parameter index
    is_attr: bool = False  # kind_flag (kernels 6.14+): the tag is a plain __attribute__
    kind: ClassVar[Kind] = Kind.DECL_TAG

    def referenced_ids(self) -> list[int]:
        return [self.type_id]


@dataclass(slots=True)
class Unknown(BtfType):
    """A record the typed kinds cannot represent faithfully: an unknown kind, or reserved bits
    set. Kept raw (so writing it back is lossless) with the reason, for validation to report."""

    raw_kind: int
    info: int
    size_or_type: int
    extra: bytes = b""
    reason: str = ""


KIND_CLASSES: dict[Kind, type[BtfType]] = {
    cls.kind: cls
    for cls in (Int, Ptr, Array, Struct, Union, Enum, Fwd, Typedef, Volatile, Const, Restrict,
                Func, FuncProto, Var, Datasec, Float, DeclTag, TypeTag, Enum64)
}

VOID = Void(0)
