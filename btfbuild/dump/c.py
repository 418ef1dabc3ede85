"""``bpftool btf dump file F format c``: BTF as a compilable C header (vmlinux.h).

Reproduces bpftool 7.5 over libbpf 1.5 byte for byte:

* bpftool's wrapper: the ``__VMLINUX_H__`` guard, the ``preserve_access_index`` pragma, the
  ``__ksym``/``__weak`` macros and, after the types, ``extern`` prototypes of the functions tagged
  ``bpf_kfunc``.
* bpftool's default order: every type id (split BTF: base included) sorted by a rank (anonymous
  enums, named enums, ints, structs, function prototypes, everything else), a name the type is
  known by, its own name and a hash of the names it is made of. bpftool skips the first entry of
  the sorted list; so do we, as the output would otherwise differ.
* libbpf's ``btf_dump__dump_type`` for each of them: a depth-first ordering pass that queues the
  named definitions a type needs before it, separating *strong* dependencies (the full definition
  must come first: embedded members, anonymous types) from *weak* ones (a forward declaration is
  enough: named structs and unions behind a pointer), and then an emitting pass that prints each
  queued definition with the forward declarations it still needs.

Declarators are built the way C reads them inside out: the chain of modifiers, pointers, arrays
and function prototypes down to a named type is collected on a stack and printed from its far end,
which puts ``const`` after a ``*`` but before a base type, and wraps pointers to arrays and to
functions in parentheses.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO, TypeVar

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
    Ptr,
    RefType,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Unknown,
    Var,
    Volatile,
)
from ..errors import BtfbuildError

PREAMBLE = """\
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

#ifndef __ksym
#define __ksym __attribute__((section(".ksyms")))
#endif

#ifndef __weak
#define __weak __attribute__((weak))
#endif

"""

EPILOGUE = """\
#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
"""

KFUNC_TAG = "bpf_kfunc"

# Names libbpf takes for 'long' when guessing the pointer size of the target.
_LONG_NAMES = frozenset({
    "long", "long int", "int long", "unsigned long", "long unsigned", "unsigned long int",
    "unsigned int long", "long unsigned int", "long int unsigned", "int unsigned long",
    "int long unsigned",
})

# Aliases for GCC's internal Arm SIMD types, printed ahead of the first use of the int type.
_MISSING_BASE_TYPES = {
    "__Poly8_t": "unsigned char",
    "__Poly16_t": "unsigned short",
    "__Poly64_t": "unsigned long long",
    "__Poly128_t": "unsigned __int128",
}

_MAX_INDENT = 13
_INDENT = ["\t" * i for i in range(_MAX_INDENT + 1)]

_MAX_RANK = 10
_U64 = (1 << 64) - 1
_MAX_RESOLVE_DEPTH = 32
_U32_MAX = 0xFFFF_FFFF

# ordering and emitting states of a type
_NOT_STARTED, _IN_PROGRESS, _DONE = 0, 1, 2

_Modifier = Volatile | Const | Restrict | TypeTag
_ChainLink = Ptr | Volatile | Const | Restrict | TypeTag
_Through = Ptr | Typedef | Volatile | Const | Restrict | TypeTag | DeclTag
_K = TypeVar("_K", int, str)


def _indent(lvl: int) -> str:
    return _INDENT[lvl if lvl < _MAX_INDENT else _MAX_INDENT]


def _roundup(x: int, y: int) -> int:
    return (x + y - 1) // y * y


# -- bpftool's sort order ----------------------------------------------------------------------


def _str_hash(s: str) -> int:
    """libbpf's ``str_hash``: h = h * 31 + c over the bytes as (signed) chars, modulo 2**64."""
    h = 0
    if s.isascii():
        for c in s.encode():
            h = h * 31 + c
    else:
        for c in s.encode("utf-8", "surrogateescape"):
            h = h * 31 + (c - 256 if c >= 0x80 else c)
    return h & _U64


class _StrHashes(dict[int, int]):
    """``str_hash`` of names by string offset, computed once each."""

    def __init__(self, name: Callable[[int], str]) -> None:
        super().__init__()
        self._name = name

    def __missing__(self, off: int) -> int:
        h = self[off] = _str_hash(self._name(off))
        return h


class _SortKeys:
    """The keys bpftool sorts type ids by before dumping them one by one."""

    def __init__(self, types: list[BtfType], name: Callable[[int], str]) -> None:
        self.types = types
        self.name = name
        self._str_hashes = _StrHashes(name)
        self._hashes: dict[bool, dict[int, int]] = {False: {}, True: {}}
        # per type reached through a named one (a typedef): its rank and the name it sorts by
        self._named_rank: dict[int, int] = {}
        self._ref_name: dict[int, str] = {}

    def _follow(self, tid: int, memo: dict[int, _K], last: Callable[[BtfType], _K]) -> _K:
        """Walk *tid*'s chain of typedefs, modifiers, pointers and arrays down to the type
        that decides, with *memo* for what earlier walks found (chains can be long)."""
        types = self.types
        path: list[int] = []
        result: _K | None = None
        for _ in range(len(types) + 1):  # more steps than types: a loop
            result = memo.get(tid)
            if result is not None:
                break
            t = types[tid]
            if not isinstance(t, Array | _Through):
                result = last(t)
                break
            path.append(tid)
            tid = t.type_id
        if result is None:
            result = last(VOID)
        for p in path:
            memo[p] = result
        return result

    @staticmethod
    def _rank_of_named(t: BtfType) -> int:
        if isinstance(t, Enum | Enum64):
            return 1
        if isinstance(t, Int | Float):
            return 2
        if isinstance(t, Composite):
            return 3
        if isinstance(t, FuncProto):
            return 4
        return _MAX_RANK

    def _ref_name_of(self, t: BtfType) -> str:
        return self.name(t.name_off)

    def key(self, tid: int, t: BtfType) -> tuple[int, str, str]:
        """The rank, the name to sort by and the type's own name.

        Ranks: anonymous enums, named enums, ints and floats, named structs and unions, named
        function prototypes, then the rest; a typedef ranks as the type it stands for. The sort
        name is an enum's name (an anonymous one's first enumerator), the name of what a
        reference type refers to in the end, or the type's own name."""
        own = self.name(t.name_off)
        named = t.name_off != 0  # (an offset may name an empty string)
        if isinstance(t, Composite):
            return (3 if named else _MAX_RANK), own, own
        if isinstance(t, Array | _Through):
            rank = self._follow(tid, self._named_rank, self._rank_of_named) if named else _MAX_RANK
            return rank, self._follow(t.type_id, self._ref_name, self._ref_name_of), own
        if isinstance(t, Enum | Enum64):
            if named:
                return 1, own, own
            return 0, (self.name(t.values[0].name_off) if t.values else ""), own
        if isinstance(t, Int | Float):
            return 2, own, own
        if isinstance(t, FuncProto):
            return (4 if named else _MAX_RANK), own, own
        return _MAX_RANK, own, own

    def disambig_hash(self, tid: int, members: bool = True) -> int:
        """Hash of the names a type is made of (a struct's members' names and their types'
        names too, with *members*); separates types alike in the other keys."""
        memo = self._hashes[members]
        h = memo.get(tid)
        if h is not None:
            return h
        t = self.types[tid]
        sh = self._str_hashes
        h = sh[t.name_off] if t.name_off else 0
        if isinstance(t, Enum | Enum64):
            for v in t.values:
                if v.name_off:
                    h = h * 31 + sh[v.name_off]
        elif isinstance(t, Composite):
            if members:
                for m in t.members:
                    if m.name_off:
                        h = h * 31 + sh[m.name_off]
                    h = h * 31 + self.disambig_hash(m.type_id, False)
        elif isinstance(t, _Through):
            h = h * 31 + self.disambig_hash(t.type_id, members)
        elif isinstance(t, Array):
            h = (h * 31 + t.nelems) * 31 + self.disambig_hash(t.type_id, members)
        h &= _U64  # arithmetic modulo 2**64 whenever it is reduced
        memo[tid] = h
        return h

    def order(self) -> list[int]:
        """All type ids, void included, in bpftool's order."""
        keyed = [(*self.key(i, t), i) for i, t in enumerate(self.types)]
        keyed.sort()
        ids: list[int] = []
        i, n = 0, len(keyed)
        while i < n:
            j = i + 1
            head = keyed[i][:3]
            while j < n and keyed[j][:3] == head:
                j += 1
            if j - i == 1:
                ids.append(keyed[i][3])
            else:  # ties: by a hash of the names the types are made of, then by id
                ids.extend(sorted((k[3] for k in keyed[i:j]), key=self.disambig_hash))
            i = j
        return ids


# -- libbpf's btf_dump -------------------------------------------------------------------------


class _Names(dict[int, str]):
    """Names by string offset, read from the string table once each."""

    def __init__(self, btf: Btf) -> None:
        super().__init__({0: ""})
        self._get = btf.strings.get

    def __missing__(self, off: int) -> str:
        s = self[off] = self._get(off)
        return s


class CDumper:
    """libbpf's ``struct btf_dump`` for C output: state carried across ``dump_type`` calls."""

    def __init__(self, btf: Btf) -> None:
        types: list[BtfType] = [VOID]
        types.extend(t for _, t in btf.all_types())
        self.types = types
        # a C-level lookup in the hot paths; the string table only on a miss
        self.name: Callable[[int], str] = _Names(btf).__getitem__
        self.ptr_size = _pointer_size(types, self.name)
        n = len(types)
        self.order_state = bytearray(n)
        self.order_state[0] = _DONE
        self.emit_state = bytearray(n)
        self.emit_state[0] = _DONE
        self.fwd_emitted = bytearray(n)
        self.referenced = _referenced(types)
        self.resolved: dict[int, str] = {}
        self.type_names: dict[str, int] = {}  # struct, union and enum tags
        self.ident_names: dict[str, int] = {}  # typedef names and enumerators
        self._align: dict[int, int] = {}
        self.queue: list[int] = []
        self.parts: list[str] = []
        self.write = self.parts.append

    def take_output(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text

    # -- entry points ---------------------------------------------------------------------

    def dump_type(self, tid: int) -> None:
        """Emit *tid*'s definition after whatever it depends on that is not out yet."""
        self.queue.clear()
        self._order(tid, False)
        for qid in self.queue:
            self._emit(qid, 0)

    def emit_decl(self, tid: int, fname: str, lvl: int = 0) -> None:
        """A declaration of *fname* with type *tid* (no trailing ``;``)."""
        self._decl(tid, fname, lvl)

    # -- names ----------------------------------------------------------------------------

    def _resolve_name(self, tid: int, seen: dict[str, int]) -> str:
        name = self.resolved.get(tid)
        if name is not None:
            return name
        t = self.types[tid]
        if not t.name_off:
            return ""
        name = self.name(t.name_off)
        if not (isinstance(t, Fwd) or (isinstance(t, Enum) and not t.values)):
            count = seen.get(name, 0) + 1
            seen[name] = count
            if count > 1:
                name = f"{name}___{count}"
        self.resolved[tid] = name
        return name

    def _type_name(self, tid: int) -> str:
        return self._resolve_name(tid, self.type_names)

    def _ident_name(self, tid: int) -> str:
        return self._resolve_name(tid, self.ident_names)

    def _is_blacklisted(self, t: BtfType) -> bool:
        # a compiler built-in: defining it breaks the build with another compiler
        return bool(t.name_off) and self.name(t.name_off) == "__builtin_va_list"

    # -- sizes ----------------------------------------------------------------------------

    def _align_of(self, tid: int) -> int:
        cached = self._align.get(tid)
        if cached is not None:
            return cached
        t = self.types[tid]
        align = 0
        if isinstance(t, Int | Enum | Enum64 | Float):
            align = min(self.ptr_size, t.size)
        elif isinstance(t, Ptr):
            align = self.ptr_size
        elif isinstance(t, Typedef | _Modifier | Array):
            align = self._align_of(t.type_id)
        elif isinstance(t, Composite):
            align = _composite_align(self, t)
        self._align[tid] = align
        return align

    def _resolve_size(self, tid: int) -> int:
        """libbpf's ``btf__resolve_size``; -1 where it fails."""
        types = self.types
        nelems = 1
        for _ in range(_MAX_RESOLVE_DEPTH):
            t = types[tid]
            if isinstance(t, Int | Composite | Enum | Enum64 | Datasec | Float):
                size = t.size
                break
            if isinstance(t, Ptr):
                size = self.ptr_size
                break
            if isinstance(t, Typedef | _Modifier | Var | DeclTag):
                tid = t.type_id
            elif isinstance(t, Array):
                if nelems and t.nelems > _U32_MAX // nelems:
                    return -1
                nelems *= t.nelems
                tid = t.type_id
            else:
                return -1
        else:
            return -1
        if nelems and size > _U32_MAX // nelems:
            return -1
        return nelems * size

    def _is_packed(self, t: Composite) -> bool:
        max_align = 1
        for m in t.members:
            align = self._align_of(m.type_id)
            if align and not m.bitfield_size and m.bit_offset % (8 * align):
                return True
            max_align = max(align, max_align)
        return t.size % max_align != 0

    # -- ordering pass --------------------------------------------------------------------

    def _order(self, tid: int, through_ptr: bool) -> int:
        """Queue the definitions *tid* needs; 1 if the link to it is strong, 0 if weak."""
        state = self.order_state
        if state[tid] == _DONE:
            return 1
        t = self.types[tid]
        if state[tid] == _IN_PROGRESS:
            if isinstance(t, Composite) and through_ptr and t.name_off:
                return 0
            raise BtfbuildError(f"unsatisfiable type cycle, id:[{tid}]")

        if isinstance(t, Composite):
            # named and behind a pointer: a forward declaration will do
            if through_ptr and t.name_off:
                return 0
            state[tid] = _IN_PROGRESS
            for m in t.members:
                if state[m.type_id] != _DONE:  # else nothing to do
                    self._order(m.type_id, False)
            if t.name_off:
                self.queue.append(tid)
            state[tid] = _DONE
            return 1
        if isinstance(t, Ptr):
            strong = self._order(t.type_id, True)
            state[tid] = _DONE
            return strong
        if isinstance(t, Typedef):
            strong = self._order(t.type_id, through_ptr)
            if through_ptr and not strong:
                return 0
            self.queue.append(tid)
            state[tid] = _DONE
            return 1
        if isinstance(t, _Modifier):
            return self._order(t.type_id, through_ptr)
        if isinstance(t, Int | Float):
            state[tid] = _DONE
            return 0
        if isinstance(t, Enum | Enum64 | Fwd):
            # anonymous enums used by nothing are constants: they get a definition of their own
            if t.name_off or not self.referenced[tid]:
                self.queue.append(tid)
            state[tid] = _DONE
            return 1
        if isinstance(t, Array):
            return self._order(t.type_id, False)
        if isinstance(t, FuncProto):
            strong = self._order(t.ret_type_id, through_ptr) > 0
            for p in t.params:
                if self._order(p.type_id, through_ptr) > 0:
                    strong = True
            return int(strong)
        if isinstance(t, Func | Var | Datasec | DeclTag):
            state[tid] = _DONE
            return 0
        raise BtfbuildError(f"type [{tid}]: kind {t.kind.name} cannot be dumped as C")

    # -- emitting pass --------------------------------------------------------------------

    def _emit(self, tid: int, cont_id: int) -> None:
        """Print *tid*'s definition if it is top-level (``cont_id`` 0), after the forward
        declarations and definitions it needs; *cont_id* is the struct being defined."""
        state = self.emit_state
        st = state[tid]
        if st == _DONE:
            return
        t = self.types[tid]
        w = self.write

        if st == _IN_PROGRESS:
            # referenced again while being defined: a forward declaration is needed
            if self.fwd_emitted[tid]:
                return
            if isinstance(t, Composite):
                if tid == cont_id or not t.name_off:  # self-reference; anonymous loop
                    return
                self._struct_fwd(tid, t)
                w(";\n\n")
                self.fwd_emitted[tid] = 1
            elif isinstance(t, Typedef):
                # the typedef is enough for uses through a pointer
                if not self._is_blacklisted(t):
                    self._typedef_def(tid, t, 0)
                    w(";\n\n")
                self.fwd_emitted[tid] = 1
            return

        if isinstance(t, Composite):
            state[tid] = _IN_PROGRESS
            top_level = cont_id == 0
            if top_level or not t.name_off:
                # the members will be spelled out: their types must be declared first
                inner = cont_id if not t.name_off else tid
                for m in t.members:
                    self._emit(m.type_id, inner)
            elif not self.fwd_emitted[tid] and tid != cont_id:
                self._struct_fwd(tid, t)
                w(";\n\n")
                self.fwd_emitted[tid] = 1
            if top_level:
                self._struct_def(tid, t, 0)
                w(";\n\n")
                state[tid] = _DONE
            else:
                state[tid] = _NOT_STARTED
        elif isinstance(t, Typedef):
            state[tid] = _IN_PROGRESS
            self._emit(t.type_id, tid)
            if not self.fwd_emitted[tid] and not self._is_blacklisted(t):
                self._typedef_def(tid, t, 0)
                w(";\n\n")
            state[tid] = _DONE
        elif isinstance(t, Ptr | _Modifier | Array):
            self._emit(t.type_id, cont_id)
        elif isinstance(t, FuncProto):
            self._emit(t.ret_type_id, cont_id)
            for p in t.params:
                self._emit(p.type_id, cont_id)
        elif isinstance(t, Int):
            alias = _MISSING_BASE_TYPES.get(self._type_name(tid))
            if alias is not None:
                w(f"typedef {alias} {self._type_name(tid)};\n\n")
            state[tid] = _DONE
        elif isinstance(t, Enum | Enum64):
            if cont_id == 0:
                self._enum_def(tid, t, 0)
                w(";\n\n")
            state[tid] = _DONE
        elif isinstance(t, Fwd):
            self._fwd_def(tid, t)
            w(";\n\n")
            state[tid] = _DONE

    # -- definitions ----------------------------------------------------------------------

    def _struct_fwd(self, tid: int, t: Composite) -> None:
        keyword = "struct" if isinstance(t, Struct) else "union"
        self.write(f"{keyword} {self._type_name(tid)}" if t.name_off else keyword)

    def _fwd_def(self, tid: int, t: Fwd) -> None:
        self.write(f"{'union' if t.is_union else 'struct'} {self._type_name(tid)}")

    def _struct_def(self, tid: int, t: Composite, lvl: int) -> None:
        w = self.write
        is_struct = isinstance(t, Struct)
        align = self._align_of(tid)
        packed = is_struct and self._is_packed(t)
        keyword = "struct" if is_struct else "union"
        w(f"{keyword} {self._type_name(tid)} {{" if t.name_off else f"{keyword} {{")

        name = self.name
        member_indent = _indent(lvl + 1)
        off = 0
        prev_bitfield = False
        for m in t.members:
            bits = m.bitfield_size
            m_off = m.bit_offset
            m_align = 1 if packed else self._align_of(m.type_id)
            self._bit_padding(off, m_off, m_align, prev_bitfield and bits != 0, lvl + 1)
            w("\n")
            w(member_indent)
            self._decl(m.type_id, name(m.name_off), lvl + 1)
            if bits:
                w(f": {bits};")
                off = m_off + bits
                prev_bitfield = True
            else:
                w(";")
                off = m_off + max(0, self._resolve_size(m.type_id)) * 8
                prev_bitfield = False

        if is_struct:
            self._bit_padding(off, t.size * 8, align, False, lvl + 1)
        if t.members or t.size:
            w(f"\n{_indent(lvl)}}}")
        else:
            w("}")  # `struct empty {}` stays on one line
        if packed:
            w(" __attribute__((packed))")

    def _bit_padding(self, cur: int, nxt: int, next_align: int, in_bitfield: bool,
                     lvl: int) -> None:
        """Explicit padding from bit *cur* to *nxt* as anonymous bitfields, when the compiler
        would not place the next member (or the struct end) there by alignment alone."""
        if cur >= nxt:
            return
        w = self.write
        indent = _indent(lvl)
        pads = (("long", self.ptr_size * 8), ("int", 32), ("short", 16), ("char", 8))
        # the widest padding type whose next boundary is not past the gap's end
        pad_type, pad_bits = pads[-1]
        new_off = 0
        for pad_type, pad_bits in pads:  # noqa: B007 (the chosen pair is used below)
            new_off = _roundup(cur, pad_bits)
            if new_off <= nxt:
                break
        if cur < new_off <= nxt:
            if (in_bitfield
                    or (new_off == nxt and _roundup(cur, max(next_align, 1) * 8) != new_off)
                    or (new_off != nxt and nxt - new_off <= new_off - cur)):
                w(f"\n{indent}{pad_type}: {new_off - cur if in_bitfield else 0};")
            cur = new_off
        while cur != nxt:
            bits = min(nxt - cur, pad_bits)
            if bits == pad_bits:
                w(f"\n{indent}{pad_type}: {pad_bits};")
                cur += bits
                continue
            # the rest, with the smallest type that holds it
            for pad_type, pad_bits in reversed(pads):
                if pad_bits >= bits:
                    w(f"\n{indent}{pad_type}: {bits};")
                    cur += bits
                    break

    def _enum_def(self, tid: int, t: Enum | Enum64, lvl: int) -> None:
        w = self.write
        w(f"enum {self._type_name(tid)}" if t.name_off else "enum")
        if not t.values:
            return
        w(" {")
        name = self.name
        idents = self.ident_names
        indent = _indent(lvl + 1)
        if isinstance(t, Enum):
            suffix = ""
            bits, signed = 32, t.signed
        else:
            suffix = "LL" if t.signed else "ULL"
            bits, signed = 64, t.signed
        half = 1 << (bits - 1)
        mask = (1 << bits) - 1
        for v in t.values:
            ident = name(v.name_off)
            count = idents.get(ident, 0) + 1  # enumerators share the typedef namespace
            idents[ident] = count
            val = v.value & mask
            if signed and val >= half:
                val -= 1 << bits
            if count > 1:
                w(f"\n{indent}{ident}___{count} = {val}{suffix},")
            else:
                w(f"\n{indent}{ident} = {val}{suffix},")
        w(f"\n{_indent(lvl)}}}")

        if t.size == 1:
            w(" __attribute__((mode(byte)))")
        elif t.size == 8 and self.ptr_size == 8 and (
            # an enum64 with a value over 32 bits is 8 bytes anyway; others must be told
            isinstance(t, Enum) or all(not (v.value & _U64) >> 32 for v in t.values)
        ):
            w(" __attribute__((mode(word)))")

    def _typedef_def(self, tid: int, t: Typedef, lvl: int) -> None:
        name = self._ident_name(tid)
        if t.type_id == 0 and name == "__gnuc_va_list":
            # old GCC's typedef of it to void
            self.write("typedef __builtin_va_list __gnuc_va_list")
            return
        self.write("typedef ")
        self._decl(t.type_id, name, lvl)

    # -- declarators ----------------------------------------------------------------------

    def _decl(self, tid: int, fname: str, lvl: int) -> None:
        types = self.types
        chain: list[int] = []
        for _ in range(len(types) + 1):
            chain.append(tid)
            if tid == 0:
                break
            t = types[tid]
            if isinstance(t, _ChainLink | Array):
                tid = t.type_id
            elif isinstance(t, FuncProto):
                tid = t.ret_type_id
            else:
                break
        self._chain(chain, fname, lvl)

    def _pop_qualifiers(self, chain: list[int]) -> None:
        """Print the const/volatile/restrict applying to the base type now on top."""
        types = self.types
        w = self.write
        while chain:
            t = types[chain[-1]]
            if isinstance(t, Volatile):
                w("volatile ")
            elif isinstance(t, Const):
                w("const ")
            elif isinstance(t, Restrict):
                w("restrict ")
            else:
                return
            chain.pop()

    def _drop_modifiers(self, chain: list[int]) -> None:
        types = self.types
        while chain and isinstance(types[chain[-1]], _Modifier):
            chain.pop()

    def _chain(self, chain: list[int], fname: str, lvl: int) -> None:
        """Print the declarator in *chain* (outermost type first, base type last) for
        *fname*, consuming the chain."""
        types = self.types
        w = self.write
        after_ptr = True  # no space before a '*' or a name right after another '*'
        while chain:
            tid = chain.pop()
            if tid == 0:
                self._pop_qualifiers(chain)
                w("void")
                after_ptr = False
                continue
            t = types[tid]
            if isinstance(t, Ptr):
                w("*" if after_ptr else " *")
                after_ptr = True
                continue
            if isinstance(t, Int | Float):
                self._pop_qualifiers(chain)
                w(self.name(t.name_off))
            elif isinstance(t, Composite):
                self._pop_qualifiers(chain)
                if t.name_off:
                    self._struct_fwd(tid, t)
                else:
                    self._struct_def(tid, t, lvl)
            elif isinstance(t, Typedef):
                self._pop_qualifiers(chain)
                w(self._ident_name(tid))
            elif isinstance(t, Const):
                w(" const")
            elif isinstance(t, Volatile):
                w(" volatile")
            elif isinstance(t, Restrict):
                w(" restrict")
            elif isinstance(t, Enum | Enum64):
                self._pop_qualifiers(chain)
                if t.name_off:
                    w(f"enum {self._type_name(tid)}")
                else:
                    self._enum_def(tid, t, lvl)
            elif isinstance(t, Fwd):
                self._pop_qualifiers(chain)
                self._fwd_def(tid, t)
            elif isinstance(t, TypeTag):
                self._pop_qualifiers(chain)
                w(f' __attribute__((btf_type_tag("{self.name(t.name_off)}")))')
            elif isinstance(t, Array):
                # qualifiers of an array are those of its elements (a GCC quirk): drop them
                self._drop_modifiers(chain)
                if not chain:
                    self._name(fname, after_ptr)
                    w(f"[{t.nelems}]")
                    return
                multidim = isinstance(types[chain[-1]], Array)
                if fname and not after_ptr:
                    w(" ")
                if not multidim:
                    w("(")
                self._chain(chain, fname, lvl)
                if not multidim:
                    w(")")
                w(f"[{t.nelems}]")
                return
            elif isinstance(t, FuncProto):
                # GCC's volatile on noreturn function pointers: dropped too
                self._drop_modifiers(chain)
                if chain:
                    w(" (")
                    self._chain(chain, fname, lvl)
                    w(")")
                else:
                    self._name(fname, after_ptr)
                self._params(t, lvl)
                return
            else:
                return  # not a type a declaration can be made of
            after_ptr = False
        self._name(fname, after_ptr)

    def _name(self, fname: str, after_ptr: bool) -> None:
        if fname and not after_ptr:
            self.write(" ")
        self.write(fname)

    def _params(self, t: FuncProto, lvl: int) -> None:
        w = self.write
        params = t.params
        # no parameters, or clang's single void one for BPF
        if not params or (len(params) == 1 and params[0].type_id == 0):
            w("(void)")
            return
        w("(")
        last = len(params) - 1
        for i, p in enumerate(params):
            if i:
                w(", ")
            if i == last and p.type_id == 0:
                w("...")
                break
            self._decl(p.type_id, self.name(p.name_off), lvl)
        w(")")


def _composite_align(d: CDumper, t: Composite) -> int:
    max_align = 1
    for m in t.members:
        align = d._align_of(m.type_id)
        if align <= 0:
            return align
        max_align = max(max_align, align)
        if not m.bitfield_size and m.bit_offset % (8 * align):
            return 1  # a misaligned member: the struct is packed
    return 1 if t.size % max_align else max_align


def _pointer_size(types: list[BtfType], name: Callable[[int], str]) -> int:
    """The size of the first 'long' type, as libbpf guesses it; else the host's (8)."""
    for t in types:
        if isinstance(t, Int) and t.size in (4, 8) and name(t.name_off) in _LONG_NAMES:
            return t.size
    return 8


def _referenced(types: list[BtfType]) -> bytearray:
    """Which types another type refers to (a function's return type does not count, as in
    libbpf); an anonymous enum nothing refers to is a top-level definition."""
    ref = bytearray(len(types))
    for t in types:
        if isinstance(t, RefType | Func | Var | DeclTag):
            ref[t.type_id] = 1
        elif isinstance(t, Composite):
            for m in t.members:
                ref[m.type_id] = 1
        elif isinstance(t, Array):
            ref[t.type_id] = 1
            ref[t.index_type_id] = 1
        elif isinstance(t, FuncProto):
            for p in t.params:
                ref[p.type_id] = 1
        elif isinstance(t, Datasec):
            for v in t.vars:
                ref[v.type_id] = 1
        elif isinstance(t, Unknown):
            raise BtfbuildError(f"kind {t.raw_kind} cannot be dumped as C")
    return ref


def _kfuncs(d: CDumper) -> None:
    """``extern`` prototypes of the functions tagged ``bpf_kfunc``, in id order."""
    w = d.write
    w("\n/* BPF kfuncs */\n#ifndef BPF_NO_KFUNC_PROTOTYPES\n")
    types = d.types
    for t in types:
        if not (isinstance(t, DeclTag) and t.component_idx == -1
                and d.name(t.name_off) == KFUNC_TAG):
            continue
        fn = types[t.type_id]
        if not isinstance(fn, Func):
            continue
        w("extern ")
        d.emit_decl(fn.type_id, d.name(fn.name_off))
        w(" __weak __ksym;\n")
    w("#endif\n\n")


def dump_c(btf: Btf, out: TextIO) -> None:
    """Write *btf* (split BTF: with its base) as ``bpftool btf dump file F format c`` does."""
    d = CDumper(btf)
    order = _SortKeys(d.types, d.name).order()
    limit = sys.getrecursionlimit()
    # type graphs nest deeper than Python's default limit; the calls are Python-only
    sys.setrecursionlimit(max(limit, 3 * len(d.types) + 1000))
    try:
        d.write(PREAMBLE)
        try:
            ordered = d.order_state
            for tid in order[1:]:  # bpftool never dumps the first type it sorted
                if ordered[tid] != _DONE:  # else it and all it needs are out already
                    d.dump_type(tid)
                if len(d.parts) > 65536:
                    _write(out, d.take_output())
        except BtfbuildError:
            _write(out, d.take_output())  # what came out before, as bpftool leaves it
            raise
        _kfuncs(d)
        d.write(EPILOGUE)
        _write(out, d.take_output())
    finally:
        sys.setrecursionlimit(limit)


def _write(out: TextIO, text: str) -> None:
    try:
        out.write(text)
    except UnicodeEncodeError:
        # names that are not UTF-8 come through as they are in the string table
        buffer = getattr(out, "buffer", None)
        if buffer is None:
            raise
        out.flush()
        buffer.write(text.encode("utf-8", "surrogateescape"))
