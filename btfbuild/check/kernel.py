"""BTF validation by the rules of the kernel's BTF verifier (kernel/bpf/btf.c, Linux 6.12).

The kernel checks BTF handed to ``BPF_BTF_LOAD`` in ``btf_parse``; this module applies the same
rules to a :class:`~btfbuild.btf.model.Btf` and reports every problem instead of the first one.
The passes, in the kernel's order:

1. Header (``btf_parse_hdr``, ``btf_check_sec_info``): flags must be zero; type and string
   sections must tile the data after the header exactly, without gap or overlap. Uses the layout
   the raw reader recorded; BTF built in memory has none and skips the layout part. Magic,
   version and a non-zero extended header are already refused by the reader. After a layout
   problem nothing else is checked: the types were read from the wrong bytes.
2. String section (``btf_parse_str_sec``): it ends the data, is non-empty, at most 16 MiB and
   ends with NUL; base BTF also starts with NUL. Split BTF may have no strings at all.
3. Type section (``btf_parse_type_sec``): type_off 4-aligned; base BTF has at least one type.
4. Metadata (``btf_check_all_metas``): each record on its own -- reserved info bits, name offset
   and, per kind (``*_check_meta``), vlen, kind_flag, size, name rules (C identifier, section
   name, anonymous or not), INT encoding and bit sizes, ARRAY element/index ids, STRUCT/UNION
   member names and increasing offsets within the size, ENUM size, FUNC/VAR linkage, DATASEC
   secinfo layout, DECL_TAG value and component_idx. Records the reader kept as ``Unknown``
   (reserved bits, meaningless kind_flag or vlen, ARRAY size or FWD type set) are judged here by
   the rule the kernel would stop at; an INT whose data only sets bits 8-15, which the kernel
   ignores, is judged (and used) as the INT the kernel sees.
5. Resolution (``btf_check_all_types``): every type that refers to others is resolved
   (``btf_resolve``) depth-first on an explicit stack of at most 32 vertices, in one of three
   modes chosen by the first vertex (``env_stack_push``), which decide where resolution may stop
   (``env_type_is_resolve_sink``). A vertex met again while on the stack is a loop. Per kind:
   modifiers, PTR and VAR resolve to a sized type or (not VAR) void/FWD/FUNC_PROTO; ARRAY needs
   a regular INT index and a sized element; STRUCT/UNION members are checked against the
   member's resolved type (``check_member``/``check_kflag_member``: alignment, bitfields, fit
   within the size); DATASEC entries must be VARs that fit their slot; FUNC must refer to a
   FUNC_PROTO with named parameters; DECL_TAG must target a FUNC/STRUCT/UNION/VAR/TYPEDEF with
   component_idx in range. VAR, DATASEC and DECL_TAG may only start a resolution, never be
   referred to (``btf_type_is_resolve_source_only``). Each resolved type gets a final sanity
   check (``btf_resolve_valid``). Every FUNC_PROTO's return and parameter types are resolved and
   must be sized (``btf_func_proto_check``).
6. Type tags (``btf_check_type_tags``): in a chain of modifiers, TYPE_TAGs come first; chains
   are at most 32 long.

One rule changed since 6.12 and follows current kernels by default: TYPE_TAG and DECL_TAG may
set kind_flag (6.14+: tags that stand for plain attributes); ``tag_kflag=False`` refuses it.

Split BTF follows the kernel's module rules: ids and string offsets continue the base's, the
string section may be empty and need not start with NUL, and there may be no types. Base types
count as resolved, as the kernel assumes of vmlinux; their resolved sizes are derived on demand.

To report more than the first problem, a type that fails is marked failed, and a type whose
resolution runs into a failed type fails silently: its problem has already been told.

Where this differs from a running kernel: PTR members are sized by the target's ``long`` (4 or
8 bytes) rather than the kernel's own ``sizeof(void *)``, and either byte order is judged where a
kernel takes only its own. Not checked: the 16 MiB limit of ``BPF_BTF_LOAD`` (a limit of the
call, not of BTF) and the special struct fields (``bpf_spin_lock`` and the like,
``btf_parse_struct_metas``), which only matter to the programs and maps that use them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..btf.model import Btf
from ..btf.types import (
    VOID,
    Array,
    BtfType,
    Composite,
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
    Member,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Unknown,
    Var,
    Void,
    Volatile,
)
from . import names

U32_MAX = 0xFFFFFFFF
BTF_MAX_TYPE = 0x000FFFFF
BTF_MAX_NAME_OFFSET = 0x00FFFFFF
BTF_INFO_MASK = 0x9F00FFFF
BTF_INT_MASK = 0x0FFFFFFF
MAX_RESOLVE_DEPTH = 32
BITS_PER_U128 = 128
HEADER_LEN = 24


@dataclass(frozen=True, slots=True)
class Problem:
    """One rule broken: by type ``type_id`` (None: by the header or string section)."""

    type_id: int | None
    kind: str  # kind name ("STRUCT"); for file-level problems the part ("header", "strings")
    reason: str
    name: str = ""

    def __str__(self) -> str:
        if self.type_id is None:
            return f"{self.kind}: {self.reason}"
        return f"[{self.type_id}] {self.kind} {self.name}: {self.reason}"


# -- kinds as roles: one bit each, so the kernel's btf_type_is_*() groups are masks ----------

_VOID, _INT, _PTR, _ARRAY, _STRUCT, _ENUM, _FWD, _MOD = 1, 2, 4, 8, 16, 32, 64, 128
_FUNC, _FUNC_PROTO, _VAR, _DATASEC, _FLOAT, _DECL_TAG, _TYPEDEF, _TYPE_TAG = (
    256, 512, 1024, 2048, 4096, 8192, 16384, 32768)

_ROLE: dict[type, int] = {
    Void: _VOID, Int: _INT, Ptr: _PTR, Array: _ARRAY, Struct: _STRUCT, Union: _STRUCT,
    Enum: _ENUM, Enum64: _ENUM, Fwd: _FWD, Typedef: _MOD | _TYPEDEF, Volatile: _MOD,
    Const: _MOD, Restrict: _MOD, TypeTag: _MOD | _TYPE_TAG, Func: _FUNC,
    FuncProto: _FUNC_PROTO, Var: _VAR, Datasec: _DATASEC, Float: _FLOAT, DeclTag: _DECL_TAG,
}  # Unknown: no role -- not sized, not resolvable

_SOURCE_ONLY = _VAR | _DECL_TAG | _DATASEC  # btf_type_is_resolve_source_only
_NEEDS_RESOLVE = _MOD | _PTR | _STRUCT | _ARRAY | _VAR | _FUNC | _DECL_TAG | _DATASEC
_NOSIZE = _VOID | _FWD | _FUNC | _FUNC_PROTO | _DECL_TAG  # btf_type_nosize
_HAS_SIZE = _INT | _STRUCT | _ENUM | _DATASEC | _FLOAT  # btf_type_has_size
_DECL_TAG_TARGET = _FUNC | _STRUCT | _VAR | _TYPEDEF

# resolve modes (enum resolve_mode) and, per mode, the roles that are NOT sinks
_RESOLVE_TBD, _RESOLVE_PTR, _RESOLVE_STRUCT_OR_ARRAY = 0, 1, 2
_NOT_SINK = (_NEEDS_RESOLVE, _MOD | _PTR, _MOD | _ARRAY | _STRUCT)

# visit states (enum visit_state) plus ours for types that failed a check
_NOT_VISITED, _VISITED, _RESOLVED, _FAILED = 0, 1, 2, 3

# kinds whose vlen / kind_flag mean something (for records the reader kept raw)
_VLEN_KINDS = frozenset(
    int(k) for k in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FUNC_PROTO,
                     Kind.DATASEC, Kind.FUNC))
_KFLAG_KINDS = frozenset(
    int(k) for k in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD))


class _Fail(Exception):
    """Resolving the top vertex failed: with the reason to report on it, or with None when it
    ran into a type that failed before (and was reported then)."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason


class _Loop(Exception):
    """``env_stack_push`` met a vertex already on the stack (-EEXIST)."""


class _TooDeep(Exception):
    """``env_stack_push`` on a full stack (-E2BIG)."""


class _Vertex:
    """``struct resolve_vertex``."""

    __slots__ = ("next_member", "t", "tid")

    def __init__(self, t: BtfType, tid: int) -> None:
        self.t = t
        self.tid = tid
        self.next_member = 0


_Sized = tuple[int, BtfType, int]  # what btf_type_id_size gives: (type id, type, size)


def _vlen(t: BtfType) -> int:
    if isinstance(t, Composite):
        return len(t.members)
    if isinstance(t, Enum | Enum64):
        return len(t.values)
    if isinstance(t, FuncProto):
        return len(t.params)
    if isinstance(t, Datasec):
        return len(t.vars)
    if isinstance(t, Func):
        return t.linkage
    if isinstance(t, Unknown):
        return t.info & 0xFFFF
    return 0


def _int_is_regular(t: Int) -> bool:
    """``btf_type_int_is_regular``: a whole u8/u16/u32/u64/u128, not a bitfield."""
    return (t.bits & 7 == 0 and t.bit_offset == 0
            and (t.bits + 7) >> 3 in (1, 2, 4, 8, 16))


def _kind_name(t: BtfType) -> str:
    if isinstance(t, Unknown):
        try:
            return Kind(t.raw_kind).name
        except ValueError:
            return f"KIND{t.raw_kind}"
    return "VOID" if isinstance(t, Void) else t.kind.name


class _Validator:
    def __init__(self, btf: Btf, ptr_size: int, tag_kflag: bool) -> None:
        self.btf = btf
        self.tag_kflag = tag_kflag
        self.base = btf.base
        self.start = btf.start_id
        self.types: list[BtfType] = list(btf.types)  # records rebuilt from Unknown land here
        self.n = len(self.types)
        self.strings = btf.strings
        self.str_end = btf.strings.end
        self.ptr_size = ptr_size
        self.problems: list[Problem] = []
        self.state = bytearray(self.n)
        self.res_id = [0] * self.n
        self.res_size = [0] * self.n
        self.stack: list[_Vertex] = []
        self.mode = _RESOLVE_TBD
        self._ident: dict[int, bool] = {}
        self._base_res: dict[int, tuple[int, int]] = {}
        self._meta: dict[type, Callable[[Any], str | None]] = {
            Int: self._meta_int, Ptr: self._meta_ref, Typedef: self._meta_ref,
            Volatile: self._meta_ref, Const: self._meta_ref, Restrict: self._meta_ref,
            TypeTag: self._meta_ref, Array: self._meta_array, Struct: self._meta_struct,
            Union: self._meta_struct, Enum: self._meta_enum, Enum64: self._meta_enum,
            Fwd: self._meta_fwd, Func: self._meta_func, FuncProto: self._meta_func_proto,
            Var: self._meta_var, Datasec: self._meta_datasec, Float: self._meta_float,
            DeclTag: self._meta_decl_tag,
        }
        mod = self._resolve_modifier
        self._resolvers: dict[type, Callable[[_Vertex], None]] = {
            Typedef: mod, Volatile: mod, Const: mod, Restrict: mod, TypeTag: mod,
            Ptr: self._resolve_ptr, Var: self._resolve_var, Array: self._resolve_array,
            Struct: self._resolve_struct, Union: self._resolve_struct,
            Datasec: self._resolve_datasec, Func: self._resolve_func,
            DeclTag: self._resolve_decl_tag,
        }
        self._check_member: dict[int, Callable[[Composite, Member, BtfType, int], str | None]] = {
            _INT: self._int_check_member, _PTR: self._ptr_check_member,
            _ARRAY: self._array_check_member, _STRUCT: self._struct_check_member,
            _ENUM: self._enum_check_member, _FLOAT: self._float_check_member,
        }
        self._check_kflag_member: dict[
            int, Callable[[Composite, Member, BtfType, int], str | None]] = {
            _INT: self._int_check_kflag_member, _PTR: self._generic_check_kflag_member,
            _ARRAY: self._generic_check_kflag_member,
            _STRUCT: self._generic_check_kflag_member,
            _ENUM: self._enum_check_kflag_member, _FLOAT: self._generic_check_kflag_member,
        }

    # -- reporting ----------------------------------------------------------------------------

    def _name_of(self, off: int) -> str:
        """``__btf_name_by_offset``: the name as the kernel's log shows it."""
        if off == 0:
            return "(anon)"
        if not self._name_off_valid(off):
            return "(invalid-name-offset)"
        return self.strings.get(off)

    def report(self, tid: int, t: BtfType, reason: str) -> None:
        self.problems.append(Problem(tid, _kind_name(t), reason, self._name_of(t.name_off)))

    def report_file(self, part: str, reason: str) -> None:
        self.problems.append(Problem(None, part, reason))

    def _member_label(self, idx: int, name_off: int) -> str:
        if name_off and self._name_off_valid(name_off):
            return f"member {self.strings.get(name_off)}"
        return f"member #{idx}"

    # -- types and names ----------------------------------------------------------------------

    def lookup(self, tid: int) -> BtfType | None:
        """``btf_type_by_id``: None past the last id."""
        i = tid - self.start
        if i >= 0:
            return self.types[i] if i < self.n else None
        if self.base is None:
            return VOID if tid == 0 else None
        try:
            return self.base.type(tid)
        except KeyError:
            return None

    def ref(self, tid: int) -> BtfType | None:
        """:meth:`lookup` for a type being followed: a failed type fails the follower too."""
        i = tid - self.start
        if 0 <= i < self.n and self.state[i] == _FAILED:
            raise _Fail(None)
        return self.lookup(tid)

    def _name_off_valid(self, off: int) -> bool:
        """``btf_name_offset_valid``: base and split string sections join without a gap."""
        return off < self.str_end and off <= BTF_MAX_NAME_OFFSET

    def _ident_ok(self, off: int) -> bool:
        """``btf_name_valid_identifier`` for a valid offset."""
        ok = self._ident.get(off)
        if ok is None:
            ok = names.valid_identifier_str(self.strings.get(off))
            if ok is None:
                ok = names.valid_identifier(self.strings.get_bytes(off))
            self._ident[off] = ok
        return ok

    def _section_ok(self, off: int) -> bool:
        ok = names.valid_section_str(self.strings.get(off))
        if ok is None:
            ok = names.valid_section(self.strings.get_bytes(off))
        return ok

    # -- resolved sizes and ids (btf_resolved_type_id/size, btf_type_id_size) ----------------

    def resolved(self, tid: int) -> bool:
        """``env_type_is_resolved``: base types count as resolved."""
        i = tid - self.start
        return i < 0 or self.state[i] == _RESOLVED

    def resolved_id(self, tid: int) -> int:
        i = tid - self.start
        if i >= 0:
            return self.res_id[i]
        return self._base_resolved(tid)[0]

    def resolved_size(self, tid: int) -> int:
        i = tid - self.start
        if i >= 0:
            return self.res_size[i]
        return self._base_resolved(tid)[1]

    def _base_resolved(self, tid: int, depth: int = 0) -> tuple[int, int]:
        """What resolving a base type would have stored: modifiers and VARs the first
        non-modifier they lead to, ARRAYs their element and total size."""
        got = self._base_res.get(tid)
        if got is not None:
            return got
        res = (0, 0)
        t = self.lookup(tid)
        if depth < MAX_RESOLVE_DEPTH and t is not None:
            role = _ROLE.get(t.__class__, 0)
            if role & (_MOD | _VAR | _PTR):
                nid = t.type_id  # type: ignore[attr-defined]
                nt = self.lookup(nid)
                if nt is not None and _ROLE.get(nt.__class__, 0) & (_MOD | _VAR):
                    nid = self._base_resolved(nid, depth + 1)[0]
                res = (nid, 0)
            elif isinstance(t, Array):
                sized = self._id_size(t.type_id, depth + 1)
                if sized is not None:
                    res = (sized[0], sized[2] * t.nelems & U32_MAX)
        self._base_res[tid] = res
        return res

    def _id_size(self, tid: int, depth: int = 0) -> _Sized | None:
        """``btf_type_id_size``: the sized type *tid* stands for, following a modifier's or
        VAR's resolved id; None for void, FWD, FUNC, FUNC_PROTO, DECL_TAG and the like."""
        t = self.lookup(tid)
        if t is None:
            return None
        if _ROLE.get(t.__class__, 0) & (_MOD | _VAR):
            tid = self.resolved_id(tid) if tid >= self.start else self._base_resolved(tid, depth)[0]
            t = self.lookup(tid)
            if t is None:
                return None
        return self._own_size(tid, t, depth)

    def _own_size(self, tid: int, t: BtfType, depth: int) -> _Sized | None:
        """The size *t* carries by its kind (the roles are disjoint from modifiers and VAR)."""
        role = _ROLE.get(t.__class__, 0)
        if role & _NOSIZE:
            return None
        if role & _HAS_SIZE:
            return tid, t, t.size  # type: ignore[attr-defined]
        if role & _ARRAY:
            return tid, t, self._size_of_array(tid, depth)
        if role & _PTR:
            return tid, t, self.ptr_size
        return None

    def _size_of_array(self, tid: int, depth: int) -> int:
        if tid >= self.start:
            return self.res_size[tid - self.start]
        return self._base_resolved(tid, depth)[1]

    # -- passes 1-3: header, string section, type section --------------------------------------

    def check_header(self) -> bool:
        """``btf_parse_hdr``, ``btf_check_sec_info``, ``btf_parse_str_sec``,
        ``btf_parse_type_sec``; False when the layout is too broken to look at the types."""
        btf = self.btf
        split = btf.base is not None
        if btf.flags:
            self.report_file("header", "Unsupported flags")
        lay = btf.layout
        if lay is not None:
            if not split and lay.data_size == lay.hdr_len:
                self.report_file("header", "No data")
                return False
            reason = _sec_info_problem(lay.hdr_len, lay.type_off, lay.type_len, lay.str_off,
                                       lay.str_len, lay.data_size)
            if reason is not None:
                self.report_file("header", reason)
                return False
            # btf_parse_str_sec
            if lay.hdr_len + lay.str_off + lay.str_len != lay.data_size:
                self.report_file("strings", "String section is not at the end")
        data = btf.strings.data
        if not (split and not data):
            if not data:
                self.report_file("strings", "Invalid string section: empty")
            elif len(data) - 1 > BTF_MAX_NAME_OFFSET:
                self.report_file("strings", "Invalid string section: larger than 16 MiB")
            elif data[-1]:
                self.report_file("strings", "Invalid string section: last byte is not NUL")
            if not split and data and data[0]:
                self.report_file("strings", "Invalid string section: first byte is not NUL")
        # btf_parse_type_sec
        if lay is not None and lay.type_off & 3:
            self.report_file("header", "Unaligned type_off")
        if not split and not self.types:
            self.report_file("header", "No type found")
        return True

    # -- pass 4: btf_check_all_metas ----------------------------------------------------------

    def check_metas(self) -> None:
        start, state, meta, types = self.start, self.state, self._meta, self.types
        str_end = self.str_end
        for i, t in enumerate(types):
            tid = start + i
            if tid >= BTF_MAX_TYPE:  # btf_add_type
                self.report(tid, t, "Exceeded max num of types")
                state[i:] = bytes([_FAILED]) * (self.n - i)
                return
            cls = t.__class__
            if cls is Unknown:
                assert isinstance(t, Unknown)
                reason = self._meta_unknown(i, t)
            elif t.name_off >= str_end or t.name_off > BTF_MAX_NAME_OFFSET:  # btf_check_meta
                reason = f"Invalid name_offset:{t.name_off}"
            else:
                reason = meta[cls](t)
            if reason is not None:
                self.report(tid, t, reason)
                state[i] = _FAILED

    def _meta_unknown(self, i: int, t: Unknown) -> str | None:
        """A record the reader could not type: the rule the kernel stops it at, in the
        kernel's order (``btf_check_meta`` then the kind's ``check_meta``)."""
        info = t.info
        if info & ~BTF_INFO_MASK & U32_MAX:
            return f"Invalid btf_info:{info:x}"
        if not self._name_off_valid(t.name_off):
            return f"Invalid name_offset:{t.name_off}"
        kind, vlen, kflag, st = t.raw_kind, info & 0xFFFF, info >> 31, t.size_or_type
        if kind == Kind.ARRAY and t.name_off:
            return "Invalid name"
        if kind == Kind.FUNC:
            if not t.name_off or not self._ident_ok(t.name_off):
                return "Invalid name"
            if vlen > 1:
                return "Invalid func linkage"
        if kind == Kind.FUNC_PROTO and t.name_off:
            return "Invalid name"
        if kind == Kind.DATASEC and not st:
            return "size == 0"
        if kind == Kind.DECL_TAG and not self.strings.get(t.name_off):
            return "Invalid value"
        if vlen and kind not in _VLEN_KINDS:
            return "vlen != 0"
        if kflag and kind not in _KFLAG_KINDS:
            return "Invalid btf_info kind_flag"
        if kind == Kind.INT and len(t.extra) >= 4:
            (int_data,) = struct.unpack_from("<I" if self.btf.endian == "little" else ">I",
                                             t.extra)
            if int_data & ~BTF_INT_MASK & U32_MAX:
                return f"Invalid int_data:{int_data:x}"
            # bits 8-15 are ignored by the kernel: judge (and use) the INT it sees
            it = Int(t.name_off, st, (int_data >> 24) & 0x0F, (int_data >> 16) & 0xFF,
                     int_data & 0xFF)
            self.types[i] = it
            return self._meta_int(it)
        if kind == Kind.ARRAY and st:
            return "size != 0"
        if kind == Kind.FWD and st:
            return "type != 0"
        return t.reason or "Invalid type"

    def _meta_int(self, t: Int) -> str | None:  # btf_int_check_meta
        nr_bits = t.bits + t.bit_offset
        if nr_bits > BITS_PER_U128:
            return f"nr_bits exceeds {BITS_PER_U128}"
        if (nr_bits + 7) >> 3 > t.size:
            return "nr_bits exceeds type_size"
        if t.encoding not in (0, 1, 2, 4):
            return "Unsupported encoding"
        return None

    def _meta_ref(self, t: Ptr | Typedef | Volatile | Const | Restrict | TypeTag) -> str | None:
        # btf_ref_type_check_meta
        if isinstance(t, TypeTag) and t.is_attr and not self.tag_kflag:
            return "Invalid btf_info kind_flag"
        if t.type_id > BTF_MAX_TYPE:
            return "Invalid type_id"
        if isinstance(t, Typedef):
            if not t.name_off or not self._ident_ok(t.name_off):
                return "Invalid name"
        elif isinstance(t, TypeTag):
            if not self.strings.get(t.name_off):
                return "Invalid name"
        elif t.name_off:
            return "Invalid name"
        return None

    def _meta_array(self, t: Array) -> str | None:  # btf_array_check_meta
        if t.name_off:
            return "Invalid name"
        if not t.type_id or t.type_id > BTF_MAX_TYPE:
            return "Invalid elem"
        if not t.index_type_id or t.index_type_id > BTF_MAX_TYPE:
            return "Invalid index"
        return None

    def _meta_struct(self, t: Composite) -> str | None:  # btf_struct_check_meta
        if t.name_off and not self._ident_ok(t.name_off):
            return "Invalid name"
        is_union = isinstance(t, Union)
        size = t.size
        str_end = self.str_end
        last = 0
        for idx, m in enumerate(t.members):
            name_off = m.name_off
            if name_off >= str_end or name_off > BTF_MAX_NAME_OFFSET:
                return f"member #{idx}: Invalid member name_offset:{name_off}"
            if name_off and not self._ident_ok(name_off):
                return f"{self._member_label(idx, 0)}: Invalid name"
            if not m.type_id or m.type_id > BTF_MAX_TYPE:
                return f"{self._member_label(idx, name_off)}: Invalid type_id"
            off = m.bit_offset
            if is_union and off:
                return f"{self._member_label(idx, name_off)}: Invalid member bits_offset"
            if last > off:
                return f"{self._member_label(idx, name_off)}: Invalid member bits_offset"
            if (off + 7) >> 3 > size:
                return (f"{self._member_label(idx, name_off)}: "
                        "Member bits_offset exceeds its struct size")
            last = off
        return None

    def _meta_enum(self, t: Enum | Enum64) -> str | None:  # btf_enum_check_meta, _enum64_
        size = t.size
        if size > 8 or size == 0 or size & (size - 1):
            return "Unexpected size"
        if t.name_off and not self._ident_ok(t.name_off):
            return "Invalid name"
        for idx, v in enumerate(t.values):
            if not self._name_off_valid(v.name_off):
                return f"value #{idx}: Invalid name_offset:{v.name_off}"
            if not v.name_off or not self._ident_ok(v.name_off):
                return f"value #{idx}: Invalid name"
        return None

    def _meta_fwd(self, t: Fwd) -> str | None:  # btf_fwd_check_meta
        if not t.name_off or not self._ident_ok(t.name_off):
            return "Invalid name"
        return None

    def _meta_func(self, t: Func) -> str | None:  # btf_func_check_meta
        if not t.name_off or not self._ident_ok(t.name_off):
            return "Invalid name"
        if t.linkage > 1:  # BTF_FUNC_GLOBAL: extern functions are not for the kernel
            return "Invalid func linkage"
        return None

    def _meta_func_proto(self, t: FuncProto) -> str | None:  # btf_func_proto_check_meta
        return "Invalid name" if t.name_off else None

    def _meta_var(self, t: Var) -> str | None:  # btf_var_check_meta
        if not t.name_off or not self._ident_ok(t.name_off):
            return "Invalid name"
        if not t.type_id or t.type_id > BTF_MAX_TYPE:
            return "Invalid type_id"
        if t.linkage not in (0, 1):  # static or global allocated; extern is not
            return "Linkage not supported"
        return None

    def _meta_datasec(self, t: Datasec) -> str | None:  # btf_datasec_check_meta
        size = t.size
        if not size:
            return "size == 0"
        if not t.name_off or not self._section_ok(t.name_off):
            return "Invalid name"
        last_end = 0
        total = 0
        for idx, v in enumerate(t.vars):
            if not v.type_id or v.type_id > BTF_MAX_TYPE:
                return f"secinfo #{idx}: Invalid type_id"
            if v.offset < last_end or v.offset >= size:
                return f"secinfo #{idx}: Invalid offset"
            if not v.size or v.size > size:
                return f"secinfo #{idx}: Invalid size"
            last_end = v.offset + v.size
            if last_end > size:
                return f"secinfo #{idx}: Invalid offset+size"
            total += v.size
        if size < total:
            return "Invalid btf_info size"
        return None

    def _meta_float(self, t: Float) -> str | None:  # btf_float_check_meta
        return None if t.size in (2, 4, 8, 12, 16) else "Invalid type_size"

    def _meta_decl_tag(self, t: DeclTag) -> str | None:  # btf_decl_tag_check_meta
        if not self.strings.get(t.name_off):
            return "Invalid value"
        if t.is_attr and not self.tag_kflag:
            return "Invalid btf_info kind_flag"
        if t.component_idx < -1:
            return "Invalid component_idx"
        return None

    # -- pass 5: btf_check_all_types ----------------------------------------------------------

    def check_types(self) -> None:
        start, state, types = self.start, self.state, self.types
        role_of = _ROLE.get
        for i in range(self.n):
            if state[i] == _FAILED:
                continue
            t = types[i]
            role = role_of(t.__class__, 0)
            if role & _NEEDS_RESOLVE and state[i] != _RESOLVED:
                self.resolve(t, start + i)
            elif role & _FUNC_PROTO:
                assert isinstance(t, FuncProto)
                self.func_proto_check(t, start + i)

    def push(self, t: BtfType, tid: int) -> None:  # env_stack_push
        if len(self.stack) == MAX_RESOLVE_DEPTH:
            raise _TooDeep
        i = tid - self.start
        if i < 0:
            raise _Loop
        st = self.state[i]
        if st == _FAILED:
            raise _Fail(None)
        if st != _NOT_VISITED:
            raise _Loop
        self.state[i] = _VISITED
        self.stack.append(_Vertex(t, tid))
        if self.mode == _RESOLVE_TBD:
            role = _ROLE.get(t.__class__, 0)
            if role & _PTR:
                self.mode = _RESOLVE_PTR
            elif role & (_STRUCT | _ARRAY):
                self.mode = _RESOLVE_STRUCT_OR_ARRAY

    def pop_resolved(self, res_id: int, res_size: int) -> None:  # env_stack_pop_resolved
        i = self.stack.pop().tid - self.start
        self.res_id[i] = res_id
        self.res_size[i] = res_size
        self.state[i] = _RESOLVED

    def is_sink(self, t: BtfType) -> bool:  # env_type_is_resolve_sink
        return not _ROLE.get(t.__class__, 0) & _NOT_SINK[self.mode]

    def resolve(self, t: BtfType, tid: int) -> bool:
        """``btf_resolve``: resolve *t* and what it needs; False (and reported) on failure."""
        self.mode = _RESOLVE_TBD
        stack = self.stack
        resolvers = self._resolvers
        v: _Vertex | None = None
        try:
            self.push(t, tid)
            while stack:
                v = stack[-1]
                resolvers[v.t.__class__](v)
        except _Fail as exc:
            if exc.reason is not None and v is not None:
                self.report(v.tid, v.t, exc.reason)
            self._fail_stack()
            return False
        except _Loop:
            self.report(tid, t, "Loop detected")
            self._fail_stack()
            return False
        except _TooDeep:
            self.report(tid, t, f"Exceeded max resolving depth:{MAX_RESOLVE_DEPTH}")
            self._fail_stack()
            return False
        if not self.resolve_valid(t, tid):
            self.report(tid, t, "Invalid resolve state")
            self.state[tid - self.start] = _FAILED
            return False
        return True

    def _fail_stack(self) -> None:
        """Everything on the stack waits on the vertex that failed: it fails with it."""
        for v in self.stack:
            self.state[v.tid - self.start] = _FAILED
        self.stack.clear()

    def resolve_valid(self, t: BtfType, tid: int) -> bool:  # btf_resolve_valid
        if not self.resolved(tid):
            return False
        role = _ROLE.get(t.__class__, 0)
        if role & (_STRUCT | _DATASEC):
            return not self.resolved_id(tid) and not self.resolved_size(tid)
        if role & (_DECL_TAG | _FUNC):
            return bool(self.resolved_id(tid)) and not self.resolved_size(tid)
        if role & (_MOD | _PTR | _VAR):
            rt = self.lookup(self.resolved_id(tid))
            return rt is not None and not _ROLE.get(rt.__class__, 0) & (_MOD | _VAR | _DATASEC)
        if isinstance(t, Array):
            sized = self._id_size(t.type_id)
            return (sized is not None and not _ROLE.get(sized[1].__class__, 0) & _MOD
                    and t.nelems * sized[2] & U32_MAX == self.resolved_size(tid))
        return False

    def _resolve_modifier(self, v: _Vertex) -> None:  # btf_modifier_resolve
        nid: int = v.t.type_id  # type: ignore[attr-defined]
        nt = self.ref(nid)
        if nt is None or _ROLE.get(nt.__class__, 0) & _SOURCE_ONLY:
            raise _Fail("Invalid type_id")
        if not self.is_sink(nt) and not self.resolved(nid):
            self.push(nt, nid)
            return
        sized = self._id_size(nid)
        if sized is None:
            if self.resolved(nid):
                nid = self.resolved_id(nid)
                nt = self.lookup(nid)
            # "typedef void new_void", "const void": void, FWD and FUNC_PROTO are fine here
            if nt is None or not _ROLE.get(nt.__class__, 0) & (_VOID | _FWD | _FUNC_PROTO):
                raise _Fail("Invalid type_id")
            self.pop_resolved(nid, 0)
        else:
            self.pop_resolved(sized[0], 0)

    def _resume_at_resolved_ptr(self, nid: int, nt: BtfType) -> bool:
        """A modifier resolved while resolving a struct may have stopped at a PTR that is not
        resolved itself yet: carry on from that PTR (btf_ptr_resolve, btf_var_resolve)."""
        if not _ROLE.get(nt.__class__, 0) & _MOD:
            return False
        rid = self.resolved_id(nid)
        rt = self.ref(rid)
        if (rt is not None and _ROLE.get(rt.__class__, 0) & _PTR and not self.is_sink(rt)
                and not self.resolved(rid)):
            self.push(rt, rid)
            return True
        return False

    def _resolve_ptr(self, v: _Vertex) -> None:  # btf_ptr_resolve
        nid: int = v.t.type_id  # type: ignore[attr-defined]
        nt = self.ref(nid)
        if nt is None or _ROLE.get(nt.__class__, 0) & _SOURCE_ONLY:
            raise _Fail("Invalid type_id")
        if not self.is_sink(nt) and not self.resolved(nid):
            self.push(nt, nid)
            return
        if self._resume_at_resolved_ptr(nid, nt):
            return
        sized = self._id_size(nid)
        if sized is None:
            if self.resolved(nid):
                nid = self.resolved_id(nid)
                nt = self.lookup(nid)
            if nt is None or not _ROLE.get(nt.__class__, 0) & (_VOID | _FWD | _FUNC_PROTO):
                raise _Fail("Invalid type_id")
            self.pop_resolved(nid, 0)
        else:
            self.pop_resolved(sized[0], 0)

    def _resolve_var(self, v: _Vertex) -> None:  # btf_var_resolve
        nid: int = v.t.type_id  # type: ignore[attr-defined]
        nt = self.ref(nid)
        if nt is None or _ROLE.get(nt.__class__, 0) & _SOURCE_ONLY:
            raise _Fail("Invalid type_id")
        if not self.is_sink(nt) and not self.resolved(nid):
            self.push(nt, nid)
            return
        if self._resume_at_resolved_ptr(nid, nt):
            return
        # a variable needs a size: no void, FWD or FUNC_PROTO
        sized = self._id_size(nid)
        if sized is None:
            raise _Fail("Invalid type_id")
        self.pop_resolved(sized[0], 0)

    def _resolve_array(self, v: _Vertex) -> None:  # btf_array_resolve
        arr = v.t
        assert isinstance(arr, Array)
        iid = arr.index_type_id
        it = self.ref(iid)
        if it is None or _ROLE.get(it.__class__, 0) & (_NOSIZE | _SOURCE_ONLY):
            raise _Fail("Invalid index")
        if not self.is_sink(it) and not self.resolved(iid):
            self.push(it, iid)
            return
        sized = self._id_size(iid)
        if sized is None or not isinstance(sized[1], Int) or not _int_is_regular(sized[1]):
            raise _Fail("Invalid index")
        eid = arr.type_id
        et = self.ref(eid)
        if et is None or _ROLE.get(et.__class__, 0) & (_NOSIZE | _SOURCE_ONLY):
            raise _Fail("Invalid elem")
        if not self.is_sink(et) and not self.resolved(eid):
            self.push(et, eid)
            return
        sized = self._id_size(eid)
        if sized is None:
            raise _Fail("Invalid elem")
        if isinstance(sized[1], Int) and not _int_is_regular(sized[1]):
            raise _Fail("Invalid array of int")
        elem_size = sized[2]
        if arr.nelems and elem_size > U32_MAX // arr.nelems:
            raise _Fail("Array size overflows U32_MAX")
        self.pop_resolved(sized[0], elem_size * arr.nelems)

    def _resolve_struct(self, v: _Vertex) -> None:  # btf_struct_resolve
        s = v.t
        assert isinstance(s, Composite)
        members = s.members
        checks = self._check_kflag_member if s.bitfield_encoding else self._check_member
        if v.next_member:
            # the member pushed last is resolved now: check it
            idx = v.next_member - 1
            m = members[idx]
            mt = self.ref(m.type_id)
            if mt is None or not self.resolved(m.type_id):
                raise _Fail(f"{self._member_label(idx, m.name_off)}: Invalid member")
            self._member_check(checks, s, idx, m, mt)
        start, state = self.start, self.state
        not_sink = _NOT_SINK[self.mode]
        role_of = _ROLE.get
        lookup = self.lookup
        for idx in range(v.next_member, len(members)):
            m = members[idx]
            mid = m.type_id
            i = mid - start
            if 0 <= i < self.n and state[i] == _FAILED:
                raise _Fail(None)
            mt = lookup(mid)
            role = role_of(mt.__class__, 0) if mt is not None else 0
            if mt is None or role & (_NOSIZE | _SOURCE_ONLY):
                raise _Fail(f"{self._member_label(idx, m.name_off)}: Invalid member")
            if role & not_sink and i >= 0 and state[i] != _RESOLVED:
                v.next_member = idx + 1
                self.push(mt, mid)
                return
            self._member_check(checks, s, idx, m, mt)
        self.pop_resolved(0, 0)

    def _member_check(self, checks: dict[int, Callable[[Composite, Member, BtfType, int],
                                                        str | None]],
                      s: Composite, idx: int, m: Member, mt: BtfType) -> None:
        """Dispatch on the member type's kind, through modifiers to the type they resolve to
        (``btf_modifier_check_member``, ``btf_modifier_check_kflag_member``)."""
        mid = m.type_id
        role = _ROLE.get(mt.__class__, 0)
        if role & _MOD:
            sized = self._id_size(mid)
            if sized is None:
                raise _Fail(f"{self._member_label(idx, m.name_off)}: Invalid member")
            mid, mt, _ = sized
            role = _ROLE.get(mt.__class__, 0)
        check = checks.get(role & ~(_TYPEDEF | _TYPE_TAG))
        reason: str | None
        if check is None:  # btf_df_check_member
            reason = ("Unsupported check_kflag_member" if s.bitfield_encoding
                      else "Unsupported check_member")
        else:
            reason = check(s, m, mt, mid)
        if reason is not None:
            raise _Fail(f"{self._member_label(idx, m.name_off)}: {reason}")

    # check_member per member kind; None when the member fits

    def _int_check_member(self, s: Composite, m: Member, mt: BtfType, mid: int) -> str | None:
        assert isinstance(mt, Int)
        off = m.bit_offset
        if U32_MAX - off < mt.bit_offset:
            return "bits_offset exceeds U32_MAX"
        off += mt.bit_offset
        nbytes = off >> 3
        nr_copy_bits = mt.bits + (off & 7)
        if nr_copy_bits > BITS_PER_U128:
            return f"nr_copy_bits exceeds {BITS_PER_U128}"
        if s.size < nbytes or s.size - nbytes < (nr_copy_bits + 7) >> 3:
            return "Member exceeds struct_size"
        return None

    def _int_check_kflag_member(self, s: Composite, m: Member, mt: BtfType,
                                mid: int) -> str | None:
        assert isinstance(mt, Int)
        if not _int_is_regular(mt):
            return "Invalid member base type"
        nr_bits = m.bitfield_size
        off = m.bit_offset
        if not nr_bits:
            if off & 7:
                return "Invalid member offset"
            nr_bits = mt.bits
        elif nr_bits > mt.bits:
            return "Invalid member bitfield_size"
        nbytes = off >> 3
        nr_copy_bits = nr_bits + (off & 7)
        if nr_copy_bits > BITS_PER_U128:
            return f"nr_copy_bits exceeds {BITS_PER_U128}"
        if s.size < nbytes or s.size - nbytes < (nr_copy_bits + 7) >> 3:
            return "Member exceeds struct_size"
        return None

    def _generic_check_kflag_member(self, s: Composite, m: Member, mt: BtfType,
                                    mid: int) -> str | None:
        if m.bitfield_size:
            return "Invalid member bitfield_size"
        return self._check_member[_ROLE.get(mt.__class__, 0)](s, m, mt, mid)

    def _ptr_check_member(self, s: Composite, m: Member, mt: BtfType, mid: int) -> str | None:
        if m.bit_offset & 7:
            return "Member is not byte aligned"
        if (s.size - (m.bit_offset >> 3)) & U32_MAX < self.ptr_size:
            return "Member exceeds struct_size"
        return None

    def _array_check_member(self, s: Composite, m: Member, mt: BtfType,
                            mid: int) -> str | None:
        if m.bit_offset & 7:
            return "Member is not byte aligned"
        sized = self._id_size(mid)
        array_size = sized[2] if sized is not None else 0
        if (s.size - (m.bit_offset >> 3)) & U32_MAX < array_size:
            return "Member exceeds struct_size"
        return None

    def _struct_check_member(self, s: Composite, m: Member, mt: BtfType,
                             mid: int) -> str | None:
        # also btf_enum_check_member: the same rule
        if m.bit_offset & 7:
            return "Member is not byte aligned"
        if (s.size - (m.bit_offset >> 3)) & U32_MAX < mt.size:  # type: ignore[attr-defined]
            return "Member exceeds struct_size"
        return None

    _enum_check_member = _struct_check_member

    def _enum_check_kflag_member(self, s: Composite, m: Member, mt: BtfType,
                                 mid: int) -> str | None:
        off = m.bit_offset
        nr_bits = m.bitfield_size
        if not nr_bits:
            if off & 7:
                return "Member is not byte aligned"
            nr_bits = 32  # sizeof(int) bits, for ENUM64 too
        elif nr_bits > 32:
            return "Invalid member bitfield_size"
        if s.size < (off + nr_bits + 7) >> 3:
            return "Member exceeds struct_size"
        return None

    def _float_check_member(self, s: Composite, m: Member, mt: BtfType,
                            mid: int) -> str | None:
        assert isinstance(mt, Float)
        align_bits = min(self.ptr_size, mt.size) * 8
        if m.bit_offset % align_bits:
            return "Member is not properly aligned"
        if (m.bit_offset >> 3) + mt.size > s.size:
            return "Member exceeds struct_size"
        return None

    def _resolve_datasec(self, v: _Vertex) -> None:  # btf_datasec_resolve
        sec = v.t
        assert isinstance(sec, Datasec)
        self.mode = _RESOLVE_TBD
        for idx in range(v.next_member, len(sec.vars)):
            vsi = sec.vars[idx]
            vt = self.ref(vsi.type_id)
            if vt is None or not isinstance(vt, Var):
                raise _Fail(f"secinfo #{idx}: Not a VAR kind member")
            if not self.is_sink(vt) and not self.resolved(vsi.type_id):
                v.next_member = idx + 1
                self.push(vt, vsi.type_id)
                return
            sized = self._id_size(vt.type_id)
            if sized is None:
                raise _Fail(f"secinfo #{idx}: Invalid type")
            if vsi.size < sized[2]:
                raise _Fail(f"secinfo #{idx}: Invalid size")
        self.pop_resolved(0, 0)

    def _resolve_func(self, v: _Vertex) -> None:  # btf_func_resolve
        t = v.t
        assert isinstance(t, Func)
        self.func_check(t)
        self.pop_resolved(t.type_id, 0)

    def func_check(self, t: Func) -> None:  # btf_func_check
        proto = self.ref(t.type_id)
        if not isinstance(proto, FuncProto):
            raise _Fail("Invalid type_id")
        for idx, p in enumerate(proto.params):
            if not p.name_off and p.type_id:
                raise _Fail(f"Invalid arg#{idx + 1}")

    def _resolve_decl_tag(self, v: _Vertex) -> None:  # btf_decl_tag_resolve
        t = v.t
        assert isinstance(t, DeclTag)
        nid = t.type_id
        nt = self.ref(nid)
        if nt is None or not _ROLE.get(nt.__class__, 0) & _DECL_TAG_TARGET:
            raise _Fail("Invalid type_id")
        if not self.is_sink(nt) and not self.resolved(nid):
            self.push(nt, nid)
            return
        cidx = t.component_idx
        if cidx != -1:
            if isinstance(nt, Var | Typedef):
                raise _Fail("Invalid component_idx")
            if isinstance(nt, Composite):
                vlen = len(nt.members)
            else:  # a FUNC: count its prototype's parameters
                proto = self.lookup(nt.type_id)  # type: ignore[attr-defined]
                vlen = _vlen(proto) if proto is not None else 0
            if cidx >= vlen:
                raise _Fail("Invalid component_idx")
        self.pop_resolved(nid, 0)

    def func_proto_check(self, t: FuncProto, tid: int) -> None:  # btf_func_proto_check
        try:
            reason = self._func_proto_problem(t)
        except _Fail as exc:
            reason = exc.reason
        if reason is not None:
            self.report(tid, t, reason)

    def _func_proto_problem(self, t: FuncProto) -> str | None:
        ret = t.ret_type_id
        if ret:
            rt = self.ref(ret)
            if rt is None or _ROLE.get(rt.__class__, 0) & _SOURCE_ONLY:
                return "Invalid return type"
            if (_ROLE.get(rt.__class__, 0) & _NEEDS_RESOLVE and not self.resolved(ret)
                    and not self.resolve(rt, ret)):
                return None
            if self._id_size(ret) is None:
                return "Invalid return type"
        params = t.params
        n = len(params)
        if n and not params[-1].type_id:  # variadic: the last one is void and anonymous
            if params[-1].name_off:
                return f"Invalid arg#{n}"
            n -= 1
        for idx in range(n):
            p = params[idx]
            aid = p.type_id
            at = self.ref(aid)
            if at is None or _ROLE.get(at.__class__, 0) & _SOURCE_ONLY:
                return f"Invalid arg#{idx + 1}"
            if p.name_off and (not self._name_off_valid(p.name_off)
                               or not self._ident_ok(p.name_off)):
                return f"Invalid arg#{idx + 1}"
            if (_ROLE.get(at.__class__, 0) & _NEEDS_RESOLVE and not self.resolved(aid)
                    and not self.resolve(at, aid)):
                return None
            if self._id_size(aid) is None:
                return f"Invalid arg#{idx + 1}"
        return None

    # -- pass 6: btf_check_type_tags ----------------------------------------------------------

    def check_type_tags(self) -> None:
        start, state, types = self.start, self.state, self.types
        good_id = start - 1
        for i in range(self.n):
            t: BtfType | None = types[i]
            if not _ROLE.get(t.__class__, 0) & _MOD or state[i] == _FAILED:
                continue
            tid = start + i
            cur = tid
            in_tags = isinstance(t, TypeTag)
            limit = MAX_RESOLVE_DEPTH
            ok = True
            while t is not None and _ROLE.get(t.__class__, 0) & _MOD:
                if not limit:
                    self.report(tid, types[i], "Max chain length or cycle detected")
                    ok = False
                    break
                limit -= 1
                if isinstance(t, TypeTag):
                    if not in_tags:
                        self.report(tid, types[i], "Type tags don't precede modifiers")
                        ok = False
                        break
                else:
                    in_tags = False
                if cur <= good_id:
                    break
                cur = t.type_id  # type: ignore[attr-defined]
                j = cur - start
                if 0 <= j < self.n and state[j] == _FAILED:
                    ok = False  # told when it failed
                    break
                t = self.lookup(cur)
            if ok:
                good_id = tid


_LONG_NAMES = frozenset(("long int", "long unsigned int", "long", "unsigned long"))


def _pointer_size(btf: Btf) -> int:
    """The size of ``long`` (as ``Btf.pointer_size`` guesses it) when it is 4 or 8, else 8;
    safe on BTF whose name offsets may be out of range."""
    str_end = btf.strings.end
    for _, t in btf.all_types():
        if isinstance(t, Int) and t.name_off < str_end and btf.str(t.name_off) in _LONG_NAMES:
            return t.size if t.size in (4, 8) else 8
    return 8


def _sec_info_problem(hdr_len: int, type_off: int, type_len: int, str_off: int, str_len: int,
                      data_size: int) -> str | None:
    """``btf_check_sec_info``: the sections, by offset, tile the data after the header."""
    expected_total = data_size - hdr_len
    total = 0
    for off, length in sorted(((type_off, type_len), (str_off, str_len))):
        if expected_total < off:
            return "Invalid section offset"
        if total < off:
            return "Unsupported section found"
        if total > off:
            return "Section overlap found"
        if expected_total - total < length:
            return "Total section length too long"
        total += length
    if expected_total != total:
        return "Unsupported section found"
    return None


def validate(btf: Btf, *, ptr_size: int | None = None, tag_kflag: bool = True) -> list[Problem]:
    """Every way *btf* breaks the kernel's BTF rules, in the order the kernel checks; empty
    when the kernel would load it.

    *ptr_size* defaults to the target's (``long``'s size). *tag_kflag* permits kind_flag on
    TYPE_TAG and DECL_TAG (``__attribute__`` tags), as kernels 6.14 and later do; False applies
    the 6.12 rule that refuses it.
    """
    v = _Validator(btf, ptr_size if ptr_size is not None else _pointer_size(btf), tag_kflag)
    if not v.check_header():
        return v.problems
    v.check_metas()
    v.check_types()
    v.check_type_tags()
    return v.problems
