"""Raw BTF: the header, type and string sections of ``include/uapi/linux/btf.h``.

Reading accepts either byte order (the magic tells) and checks only what is needed to walk the
data safely: header bounds and record lengths. Whether the content is valid by the kernel's rules
is :mod:`btfbuild.check`'s business, so a reader can load bad BTF in order to report on it.
Writing lays out header, types, strings back to back as libbpf does, in the object's byte order.
"""

from __future__ import annotations

import gc
import struct
from itertools import starmap
from struct import iter_unpack

from ..errors import BtfFormatError
from .model import Btf, Endian, RawLayout
from .strings import StringTable
from .types import (
    Array,
    BtfType,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Kind,
    Member,
    Param,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Unknown,
    Var,
    VarSecinfo,
    Volatile,
)

MAGIC = 0xEB9F
VERSION = 1
HEADER_LEN = 24

# info bits the kernel requires to be zero, per kind: bits 16-23 and 29-30 always; vlen for kinds
# without members; kind_flag where it means nothing (btf.rst, "BTF Type and String Encoding").
_RESERVED = 0x60FF0000
_VLEN = 0x0000FFFF
_KFLAG = 0x80000000
_MUST_BE_ZERO = [_RESERVED | _VLEN | _KFLAG] * 32
for _k in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
    _MUST_BE_ZERO[_k] = _RESERVED
for _k in (Kind.FUNC_PROTO, Kind.DATASEC, Kind.FUNC):
    _MUST_BE_ZERO[_k] = _RESERVED | _KFLAG
for _k in (Kind.FWD, Kind.DECL_TAG, Kind.TYPE_TAG):
    _MUST_BE_ZERO[_k] = _RESERVED | _VLEN

# plain ints: comparing with IntEnum members costs a method call per type
_INT = int(Kind.INT)
_ARRAY = int(Kind.ARRAY)
_STRUCT = int(Kind.STRUCT)
_UNION = int(Kind.UNION)
_ENUM = int(Kind.ENUM)
_FWD = int(Kind.FWD)
_FUNC = int(Kind.FUNC)
_FUNC_PROTO = int(Kind.FUNC_PROTO)
_VAR = int(Kind.VAR)
_DATASEC = int(Kind.DATASEC)
_FLOAT = int(Kind.FLOAT)
_DECL_TAG = int(Kind.DECL_TAG)
_TYPE_TAG = int(Kind.TYPE_TAG)
_ENUM64 = int(Kind.ENUM64)

# record length after the common 12 bytes: fixed part plus a per-vlen part, per kind
_FIXED_EXTRA = [0] * 32
_PER_VLEN = [0] * 32
for _k in (Kind.INT, Kind.VAR, Kind.DECL_TAG):
    _FIXED_EXTRA[_k] = 4
_FIXED_EXTRA[Kind.ARRAY] = 12
for _k in (Kind.STRUCT, Kind.UNION, Kind.DATASEC, Kind.ENUM64):
    _PER_VLEN[_k] = 12
for _k in (Kind.ENUM, Kind.FUNC_PROTO):
    _PER_VLEN[_k] = 8

_REF_KINDS: dict[int, type[Ptr | Typedef | Volatile | Const | Restrict]] = {
    int(Kind.PTR): Ptr, int(Kind.TYPEDEF): Typedef, int(Kind.VOLATILE): Volatile,
    int(Kind.CONST): Const, int(Kind.RESTRICT): Restrict,
}


def detect_endian(data: bytes) -> Endian | None:
    if len(data) < 2:
        return None
    if data[0] == 0x9F and data[1] == 0xEB:
        return "little"
    if data[0] == 0xEB and data[1] == 0x9F:
        return "big"
    return None


def parse(data: bytes, base: Btf | None = None) -> Btf:
    """Parse raw BTF bytes; *base* makes it split BTF continuing the base's ids and strings."""
    endian = detect_endian(data)
    if endian is None:
        raise BtfFormatError("not BTF: bad magic" if len(data) >= 2 else "not BTF: too short")
    e = "<" if endian == "little" else ">"
    if len(data) < HEADER_LEN:
        raise BtfFormatError(f"truncated header: {len(data)} bytes, need {HEADER_LEN}")
    _magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        e + "HBBIIIII", data
    )
    if version != VERSION:
        raise BtfFormatError(f"unsupported BTF version {version}")
    if hdr_len < HEADER_LEN or hdr_len > len(data):
        raise BtfFormatError(f"bad header length {hdr_len}")
    if hdr_len > HEADER_LEN and any(data[HEADER_LEN:hdr_len]):
        raise BtfFormatError("unsupported non-zero bytes in the extended header")
    body = len(data) - hdr_len
    if type_off + type_len > body or type_off + type_len < type_off:
        raise BtfFormatError(
            f"type section [{type_off}, {type_off + type_len}) past the end of data ({body} bytes)"
        )
    if str_off + str_len > body or str_off + str_len < str_off:
        raise BtfFormatError(
            f"string section [{str_off}, {str_off + str_len}) past the end of data ({body} bytes)"
        )
    if base is not None and base.endian != endian:
        raise BtfFormatError("split BTF and its base differ in byte order")
    strings = StringTable(
        data[hdr_len + str_off : hdr_len + str_off + str_len],
        base.strings if base is not None else None,
    )
    btf = Btf(base, strings=strings, endian=endian)
    btf.flags = flags
    btf.layout = RawLayout(hdr_len, type_off, type_len, str_off, str_len, len(data))
    # hundreds of thousands of small acyclic objects: the cyclic GC would only rescan them
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        btf.types = _parse_types(data, hdr_len + type_off, type_len, e)
    finally:
        if gc_was_enabled:
            gc.enable()
    return btf


def _parse_types(data: bytes, start: int, length: int, e: str) -> list[BtfType]:
    hdr = struct.Struct(e + "III")
    u32 = struct.Struct(e + "I")
    i32 = struct.Struct(e + "i")
    arr = struct.Struct(e + "III")
    triple = e + "III"
    pair = e + "II"
    ipair = e + "Ii"
    mv = memoryview(data)
    types: list[BtfType] = []
    append = types.append
    pos = start
    end = start + length
    # locals: this loop runs once per type, ~130k times for vmlinux
    unpack_hdr = hdr.unpack_from
    fixed_extra, per_vlen, must_be_zero = _FIXED_EXTRA, _PER_VLEN, _MUST_BE_ZERO
    func_kind, proto_kind = _FUNC, _FUNC_PROTO
    ref_kinds = _REF_KINDS
    while pos < end:
        if pos + 12 > end:
            raise BtfFormatError(f"truncated type record at type offset {pos - start}")
        name_off, info, st = unpack_hdr(data, pos)
        pos += 12
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kflag = info >> 31 == 1
        extra = fixed_extra[kind] + per_vlen[kind] * vlen
        if pos + extra > end:
            raise BtfFormatError(
                f"type [{len(types) + 1}] {_kind_name(kind)}: record runs past the type section"
            )
        t: BtfType
        if info & must_be_zero[kind]:
            t = _raw(name_off, info, st, data, pos, extra,
                     "reserved info bits set" if info & _RESERVED
                     else "kind_flag or vlen where the kind has none")
        elif kind == func_kind:
            t = Func(name_off, st, vlen)
        elif kind == proto_kind:
            params = list(starmap(Param, iter_unpack(pair, mv[pos : pos + extra])))
            t = FuncProto(name_off, st, params)
        elif kind in ref_kinds:
            t = ref_kinds[kind](name_off, st)
        elif kind in (_STRUCT, _UNION):
            cls = Struct if kind == _STRUCT else Union
            if kflag:
                members = [Member(n, ty, off & 0xFFFFFF, off >> 24)
                           for n, ty, off in iter_unpack(triple, mv[pos : pos + extra])]
            else:
                members = list(starmap(Member, iter_unpack(triple, mv[pos : pos + extra])))
            t = cls(name_off, st, members, kflag)
        elif kind == _INT:
            (v,) = u32.unpack_from(data, pos)
            t = Int(name_off, st, (v >> 24) & 0x0F, (v >> 16) & 0xFF, v & 0xFF)
            if v & 0xF000FF00:
                t = _raw(name_off, info, st, data, pos, extra, "reserved bits set in int data")
        elif kind == _ENUM:
            fmt = ipair if kflag else pair
            t = Enum(name_off, st, [EnumValue(n, v) for n, v in
                                    iter_unpack(fmt, mv[pos : pos + extra])], kflag)
        elif kind == _ENUM64:
            vals = []
            for n, lo, hi in iter_unpack(triple, mv[pos : pos + extra]):
                v = (hi << 32) | lo
                if kflag and v >= 1 << 63:
                    v -= 1 << 64
                vals.append(EnumValue(n, v))
            t = Enum64(name_off, st, vals, kflag)
        elif kind == _ARRAY:
            ty, idx, nelems = arr.unpack_from(data, pos)
            t = Array(name_off, ty, idx, nelems)
            if st:
                t = _raw(name_off, info, st, data, pos, extra, "size != 0")
        elif kind == _FWD:
            t = Fwd(name_off, kflag)
            if st:
                t = _raw(name_off, info, st, data, pos, extra, "type != 0")
        elif kind == _VAR:
            (linkage,) = u32.unpack_from(data, pos)
            t = Var(name_off, st, linkage)
        elif kind == _DATASEC:
            t = Datasec(name_off, st, [VarSecinfo(ty, off, sz) for ty, off, sz in
                                       iter_unpack(triple, mv[pos : pos + extra])])
        elif kind == _FLOAT:
            t = Float(name_off, st)
        elif kind == _DECL_TAG:
            (cidx,) = i32.unpack_from(data, pos)
            t = DeclTag(name_off, st, cidx, kflag)
        elif kind == _TYPE_TAG:
            t = TypeTag(name_off, st, kflag)
        else:
            # the record length of an unknown kind is unknown: nothing after it can be read
            raise BtfFormatError(f"type [{len(types) + 1}]: invalid kind {kind}")
        append(t)
        pos += extra
    return types


def _raw(name_off: int, info: int, st: int, data: bytes, pos: int, extra: int,
         reason: str) -> Unknown:
    """Keep a record the typed kinds cannot hold faithfully, with why, for validation."""
    return Unknown(name_off, (info >> 24) & 0x1F, info, st, bytes(data[pos : pos + extra]), reason)


def _kind_name(kind: int) -> str:
    try:
        return Kind(kind).name
    except ValueError:
        return f"kind {kind}"


def _canonical_info(t: BtfType) -> int:
    kind = t.kind
    vlen = 0
    kflag = False
    if isinstance(t, Struct | Union):
        vlen = len(t.members)
        kflag = t.bitfield_encoding
    elif isinstance(t, Enum | Enum64):
        vlen = len(t.values)
        kflag = t.signed
    elif isinstance(t, FuncProto):
        vlen = len(t.params)
    elif isinstance(t, Datasec):
        vlen = len(t.vars)
    elif isinstance(t, Func):
        vlen = t.linkage
    elif isinstance(t, Fwd):
        kflag = t.is_union
    elif isinstance(t, DeclTag | TypeTag):
        kflag = t.is_attr
    return (int(kflag) << 31) | (int(kind) << 24) | vlen


def encode(btf: Btf, endian: Endian | None = None) -> bytes:
    """Serialize *btf*'s own types and strings (split BTF: without its base)."""
    endian = endian or btf.endian
    e = "<" if endian == "little" else ">"
    hdr = struct.Struct(e + "III")
    three = struct.Struct(e + "III")
    two = struct.Struct(e + "II")
    two_signed = struct.Struct(e + "Ii")
    one = struct.Struct(e + "I")
    one_signed = struct.Struct(e + "i")
    out = bytearray()
    for t in btf.types:
        if isinstance(t, Unknown):
            out += hdr.pack(t.name_off, t.info, t.size_or_type) + t.extra
            continue
        info = _canonical_info(t)
        if isinstance(t, Ptr | Typedef | Volatile | Const | Restrict | TypeTag):
            out += hdr.pack(t.name_off, info, t.type_id)
        elif isinstance(t, Struct | Union):
            out += hdr.pack(t.name_off, info, t.size)
            if t.bitfield_encoding:
                for m in t.members:
                    out += three.pack(m.name_off, m.type_id, (m.bitfield_size << 24) | m.bit_offset)
            else:
                for m in t.members:
                    out += three.pack(m.name_off, m.type_id, m.bit_offset)
        elif isinstance(t, FuncProto):
            out += hdr.pack(t.name_off, info, t.ret_type_id)
            for p in t.params:
                out += two.pack(p.name_off, p.type_id)
        elif isinstance(t, Func):
            out += hdr.pack(t.name_off, info, t.type_id)
        elif isinstance(t, Int):
            out += hdr.pack(t.name_off, info, t.size)
            out += one.pack((t.encoding << 24) | (t.bit_offset << 16) | t.bits)
        elif isinstance(t, Enum):
            out += hdr.pack(t.name_off, info, t.size)
            for v in t.values:
                if t.signed:
                    out += two_signed.pack(v.name_off, v.value)
                else:
                    out += two.pack(v.name_off, v.value & 0xFFFFFFFF)
        elif isinstance(t, Enum64):
            out += hdr.pack(t.name_off, info, t.size)
            for v in t.values:
                u = v.value & 0xFFFFFFFFFFFFFFFF
                out += three.pack(v.name_off, u & 0xFFFFFFFF, u >> 32)
        elif isinstance(t, Array):
            out += hdr.pack(t.name_off, info, 0)
            out += three.pack(t.type_id, t.index_type_id, t.nelems)
        elif isinstance(t, Fwd):
            out += hdr.pack(t.name_off, info, 0)
        elif isinstance(t, Var):
            out += hdr.pack(t.name_off, info, t.type_id)
            out += one.pack(t.linkage)
        elif isinstance(t, Datasec):
            out += hdr.pack(t.name_off, info, t.size)
            for s in t.vars:
                out += three.pack(s.type_id, s.offset, s.size)
        elif isinstance(t, Float):
            out += hdr.pack(t.name_off, info, t.size)
        elif isinstance(t, DeclTag):
            out += hdr.pack(t.name_off, info, t.type_id)
            out += one_signed.pack(t.component_idx)
        else:
            raise TypeError(f"cannot encode {type(t).__name__}")
    strs = btf.strings.data
    header = struct.pack(e + "HBBIIIII", MAGIC, VERSION, btf.flags, HEADER_LEN,
                         0, len(out), len(out), len(strs))
    return header + bytes(out) + strs
