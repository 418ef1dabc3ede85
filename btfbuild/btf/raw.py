"""Raw BTF: the header, type and string sections of ``include/uapi/linux/btf.h``.

Reading accepts either byte order (the magic tells) and checks only what is needed to walk the
data safely: header bounds and record lengths. Whether the content is valid by the kernel's rules
is :mod:`btfbuild.check`'s business, so a reader can load bad BTF in order to report on it.
Writing lays out header, types, strings back to back as libbpf does, in the object's byte order.
"""

from __future__ import annotations

import gc
import struct
import sys
from array import array
from itertools import starmap

from ..errors import BtfFormatError
from .model import Btf, Endian, RawLayout
from .sanity import SanityLimits
from .strings import StringTable
from .types import (
    Array,
    BtfType,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Kind,
    Ptr,
    ReadBatch,
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

_U32 = "I" if array("I").itemsize == 4 else "L"  # array type code of a 32-bit unsigned

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
    return parse_with_limits(data, base)[0]


def parse_with_limits(data: bytes, base: Btf | None = None) -> tuple[Btf, SanityLimits]:
    """:func:`parse`, plus the largest name offset and type id the types use, gathered on the
    way for :func:`~btfbuild.btf.sanity.sanity_check` (which then needs no pass of its own)."""
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
        memoryview(data)[hdr_len + str_off : hdr_len + str_off + str_len],  # copied once, there
        base.strings if base is not None else None,
    )
    btf = Btf(base, strings=strings, endian=endian)
    btf.flags = flags
    btf.layout = RawLayout(hdr_len, type_off, type_len, str_off, str_len, len(data))
    # hundreds of thousands of small acyclic objects: the cyclic GC would only rescan them
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        btf.types, limits = _parse_types(data, hdr_len + type_off, type_len, endian,
                                         ReadBatch(btf))
    finally:
        if gc_was_enabled:
            gc.enable()
    return btf, limits


def _past_end(tid: int, kind: int) -> BtfFormatError:
    return BtfFormatError(f"type [{tid}] {_kind_name(kind)}: record runs past the type section")


def _column_max(chunks: list[bytes], width: int, columns: tuple[int, ...]) -> list[int]:
    """The largest value in each of *columns* of the u32 records (*width* words each, host byte
    order) in *chunks*: one C-level pass over all members (or parameters, values) of all
    types."""
    if not chunks:
        return [0] * len(columns)
    words = array(_U32, b"".join(chunks))
    return [max(words[c::width], default=0) for c in columns]


def _swapped(words: bytes) -> bytes:
    """u32 words in the other byte order."""
    a = array(_U32, words)
    a.byteswap()
    return a.tobytes()


def _parse_types(data: bytes, start: int, length: int, endian: Endian,
                 batch: ReadBatch) -> tuple[list[BtfType], SanityLimits]:
    """Decode the type section. This loop runs once per type, ~130k times for vmlinux, so it
    keeps everything in locals, leaves the members, parameters and enumerators as the words
    they are (in the host's byte order; see :mod:`btfbuild.btf.types`), and first tests the
    common kinds (FUNC, FUNC_PROTO, PTR, STRUCT, UNION) by the whole upper half of ``info``: one
    comparison says both the kind and that no bit is set that the kind does not allow.
    Everything else takes the general path."""
    e = "<" if endian == "little" else ">"
    hdr = struct.Struct(e + "III")
    u32 = struct.Struct(e + "I")
    i32 = struct.Struct(e + "i")
    # the trailing words of foreign BTF are turned to the host's byte order first
    swap = endian != sys.byteorder
    triples = struct.Struct("=III").iter_unpack
    # offsets are relative to the type section; unpacking past its end raises struct.error.
    # A copy, not a memoryview: unpacking from bytes and slicing them is cheaper, and ~45k
    # small bytes (the per-type member and parameter chunks) take less memory than as many
    # memoryviews (~180 bytes each)
    sec = data[start : start + length] if start or length != len(data) else data
    types: list[BtfType] = []
    append = types.append
    pos = 0
    end = length
    unpack_hdr = hdr.unpack_from
    fixed_extra, per_vlen, must_be_zero = _FIXED_EXTRA, _PER_VLEN, _MUST_BE_ZERO
    ref_kinds = _REF_KINDS
    # sanity maxima: the types' own fields here, their members' and the like from the chunks
    max_name = 0
    max_ref = 0
    unknown = False
    member_chunks: list[bytes] = []  # (name, type, offset): STRUCT, UNION
    param_chunks: list[bytes] = []  # (name, type): FUNC_PROTO
    value_chunks: list[bytes] = []  # (name, value): ENUM
    value64_chunks: list[bytes] = []  # (name, lo, hi): ENUM64
    secinfo_chunks: list[bytes] = []  # (type, offset, size): DATASEC
    try:
        while pos < end:
            name_off, info, st = unpack_hdr(sec, pos)
            pos += 12
            if name_off > max_name:
                max_name = name_off
            hi = info >> 16
            if hi == 0x0C00:  # FUNC (linkage in vlen)
                append(Func(name_off, st, info & 0xFFFF))
                if st > max_ref:
                    max_ref = st
                continue
            if hi == 0x0D00:  # FUNC_PROTO
                if info & 0xFFFF:
                    extra = (info & 0xFFFF) << 3
                    if pos + extra > end:
                        raise _past_end(len(types) + 1, _FUNC_PROTO)
                    sub = sec[pos : pos + extra]
                    if swap:
                        sub = _swapped(sub)
                    param_chunks.append(sub)
                    append(FuncProto(name_off, st, None, sub, batch))
                    pos += extra
                else:
                    append(FuncProto(name_off, st, None, b"", batch))
                if st > max_ref:
                    max_ref = st
                continue
            if info == 0x02000000:  # PTR
                append(Ptr(name_off, st))
                if st > max_ref:
                    max_ref = st
                continue
            if hi == 0x0400 or hi == 0x0500 or hi == 0x8400 or hi == 0x8500:  # STRUCT, UNION
                extra = (info & 0xFFFF) * 12
                if pos + extra > end:
                    raise _past_end(len(types) + 1, (hi >> 8) & 0x1F)
                sub = sec[pos : pos + extra]
                if swap:
                    sub = _swapped(sub)
                member_chunks.append(sub)
                append((Union if hi & 0x0100 else Struct)(  # kind 5 or 4
                    name_off, st, None, hi >= 0x8000, sub, batch))
                pos += extra
                continue
            # the general path: every kind, checked as the kernel lays out its bits
            kind = (info >> 24) & 0x1F
            if info & must_be_zero[kind]:
                extra = fixed_extra[kind] + per_vlen[kind] * (info & 0xFFFF)
                if pos + extra > end:
                    raise _past_end(len(types) + 1, kind)
                append(_raw(name_off, info, st, sec, pos, extra,
                            "reserved info bits set" if info & _RESERVED
                            else "kind_flag or vlen where the kind has none"))
                unknown = True
                pos += extra
            elif kind in ref_kinds:
                append(ref_kinds[kind](name_off, st))
                if st > max_ref:
                    max_ref = st
            elif kind == _ARRAY:
                if pos + 12 > end:
                    raise _past_end(len(types) + 1, kind)
                ty, idx, nelems = unpack_hdr(sec, pos)
                if st:
                    append(_raw(name_off, info, st, sec, pos, 12, "size != 0"))
                    unknown = True
                else:
                    append(Array(name_off, ty, idx, nelems))
                    if ty > max_ref:
                        max_ref = ty
                    if idx > max_ref:
                        max_ref = idx
                pos += 12
            elif kind == _ENUM:
                extra = (info & 0xFFFF) << 3
                if pos + extra > end:
                    raise _past_end(len(types) + 1, kind)
                sub = sec[pos : pos + extra]
                if swap:
                    sub = _swapped(sub)
                value_chunks.append(sub)
                append(Enum(name_off, st, None, info >> 31 == 1, sub, batch))
                pos += extra
            elif kind in (_FUNC, _FUNC_PROTO, _STRUCT, _UNION):
                raise AssertionError(f"kind {kind} without reserved bits takes the fast path")
            elif kind == _ENUM64:
                extra = (info & 0xFFFF) * 12
                if pos + extra > end:
                    raise _past_end(len(types) + 1, kind)
                sub = sec[pos : pos + extra]
                if swap:
                    sub = _swapped(sub)
                value64_chunks.append(sub)
                append(Enum64(name_off, st, None, info >> 31 == 1, sub, batch))
                pos += extra
            elif kind == _INT:
                if pos + 4 > end:
                    raise _past_end(len(types) + 1, kind)
                (v,) = u32.unpack_from(sec, pos)
                if v & 0xF000FF00:
                    append(_raw(name_off, info, st, sec, pos, 4, "reserved bits set in int data"))
                    unknown = True
                else:
                    append(Int(name_off, st, (v >> 24) & 0x0F, (v >> 16) & 0xFF, v & 0xFF))
                pos += 4
            elif kind == _FWD:
                if st:
                    append(_raw(name_off, info, st, sec, pos, 0, "type != 0"))
                    unknown = True
                else:
                    append(Fwd(name_off, info >> 31 == 1))
            elif kind == _VAR:
                if pos + 4 > end:
                    raise _past_end(len(types) + 1, kind)
                (linkage,) = u32.unpack_from(sec, pos)
                append(Var(name_off, st, linkage))
                if st > max_ref:
                    max_ref = st
                pos += 4
            elif kind == _DATASEC:
                extra = (info & 0xFFFF) * 12
                if pos + extra > end:
                    raise _past_end(len(types) + 1, kind)
                sub = sec[pos : pos + extra]
                if swap:
                    sub = _swapped(sub)
                secinfo_chunks.append(sub)
                append(Datasec(name_off, st, list(starmap(VarSecinfo, triples(sub)))))
                pos += extra
            elif kind == _FLOAT:
                append(Float(name_off, st))
            elif kind == _DECL_TAG:
                if pos + 4 > end:
                    raise _past_end(len(types) + 1, kind)
                (cidx,) = i32.unpack_from(sec, pos)
                append(DeclTag(name_off, st, cidx, info >> 31 == 1))
                if st > max_ref:
                    max_ref = st
                pos += 4
            elif kind == _TYPE_TAG:
                append(TypeTag(name_off, st, info >> 31 == 1))
                if st > max_ref:
                    max_ref = st
            else:
                # the record length of an unknown kind is unknown: nothing after it can be read
                raise BtfFormatError(f"type [{len(types) + 1}]: invalid kind {kind}")
    except struct.error:
        # only the record header is unpacked unchecked
        raise BtfFormatError(f"truncated type record at type offset {pos}") from None
    member_name, member_ref = _column_max(member_chunks, 3, (0, 1))
    param_name, param_ref = _column_max(param_chunks, 2, (0, 1))
    (value_name,) = _column_max(value_chunks, 2, (0,))
    (value64_name,) = _column_max(value64_chunks, 3, (0,))
    (secinfo_ref,) = _column_max(secinfo_chunks, 3, (0,))
    limits = SanityLimits(
        max(max_name, member_name, param_name, value_name, value64_name),
        max(max_ref, member_ref, param_ref, secinfo_ref),
        unknown,
    )
    return types, limits


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
        vlen = t.vlen
        kflag = t.bitfield_encoding
    elif isinstance(t, Enum | Enum64):
        vlen = t.vlen
        kflag = t.signed
    elif isinstance(t, FuncProto):
        vlen = t.vlen
    elif isinstance(t, Datasec):
        vlen = len(t.vars)
    elif isinstance(t, Func):
        vlen = t.linkage
    elif isinstance(t, Fwd):
        kflag = t.is_union
    elif isinstance(t, DeclTag | TypeTag):
        kflag = t.is_attr
    return (int(kflag) << 31) | (int(kind) << 24) | vlen


def encode(btf: Btf, endian: Endian | None = None, header_len: int = HEADER_LEN) -> bytes:
    """Serialize *btf*'s own types and strings (split BTF: without its base). *header_len* 32
    writes the header of ``struct btf_header`` with ``layout_off``/``layout_len`` (both 0), as
    libbpf does for BTF it creates itself since the kind layout section (kernel 7.2)."""
    if header_len not in (HEADER_LEN, HEADER_LEN + 8):
        raise ValueError(f"header length {header_len}: only {HEADER_LEN} or {HEADER_LEN + 8}")
    endian = endian or btf.endian
    e = "<" if endian == "little" else ">"
    hdr = struct.Struct(e + "III")
    three = struct.Struct(e + "III")
    one = struct.Struct(e + "I")
    one_signed = struct.Struct(e + "i")
    # members, parameters and enumerators come as words in the host's byte order
    words_in = _swapped if endian != sys.byteorder else bytes
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
            out += words_in(t.words())
        elif isinstance(t, FuncProto):
            out += hdr.pack(t.name_off, info, t.ret_type_id)
            out += words_in(t.words())
        elif isinstance(t, Func):
            out += hdr.pack(t.name_off, info, t.type_id)
        elif isinstance(t, Int):
            out += hdr.pack(t.name_off, info, t.size)
            out += one.pack((t.encoding << 24) | (t.bit_offset << 16) | t.bits)
        elif isinstance(t, Enum | Enum64):
            out += hdr.pack(t.name_off, info, t.size)
            out += words_in(t.words())
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
    header = struct.pack(e + "HBBIIIII", MAGIC, VERSION, btf.flags, header_len,
                         0, len(out), len(out), len(strs))
    return header + bytes(header_len - HEADER_LEN) + bytes(out) + strs
