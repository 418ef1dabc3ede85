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

Speed (vmlinux has ~130k types; the whole command should cost a few bpftool runs):

* the types are read once into flat per-id tables (a kind code, the name, the name offset), so
  the passes dispatch on small ints rather than ``isinstance``, and sizes, alignments and where
  pointers lead are noted while the types are classified, in id order;
* members and parameters are read from the words the reader kept (see
  :mod:`btfbuild.btf.types`), decoded by ``struct``, never built as objects: a list of tuples
  per struct or union (gone through four times), the words as they are per function prototype
  (mostly gone through once);
* a sort key is one string (rank, sort name and name, as they compare one after the other); the
  tie-breaking hash is only computed for runs of equal keys, and only for their members that
  dumping will still do something for when the run is reached;
* the last rank is sorted after all before it are dumped, and then only the types still pending
  (most are dumped as something else's members by then); FUNC, VAR and DATASEC, which dumping
  does nothing for, are not sorted at all (see :meth:`CDumper._noop_seen`); the anonymous
  function prototypes, a quarter of vmlinux, all sort alike and first in that rank;
* a declarator that defines no type inline is printed once and then reused with each new name,
  the common ones (pointers and qualifiers over a named type) without the general machinery;
* the output is a list of strings joined once, and the cyclic GC is off meanwhile; the dumper
  is returned, so that a command line about to end can skip freeing it.
"""

from __future__ import annotations

import gc
import struct
import sys
from array import array
from collections.abc import Iterable, Sequence
from itertools import chain, compress, filterfalse, islice
from operator import attrgetter, eq, itemgetter, ne
from typing import Any, TextIO

from ..btf.model import Btf
from ..btf.types import (
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
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Unknown,
    Var,
    Void,
    Volatile,
    words_of,
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
_NL_INDENT = ["\n" + i for i in _INDENT]

_MAX_RANK = 10
_U64 = (1 << 64) - 1
_MAX_RESOLVE_DEPTH = 32
_U32_MAX = 0xFFFF_FFFF

# ordering and emitting states of a type
_NOT_STARTED, _IN_PROGRESS, _DONE = 0, 1, 2

# -- kind codes: what the passes dispatch on --------------------------------------------------

(_VOID, _INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT,
 _FUNC, _FUNC_PROTO, _VAR, _DATASEC, _FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64, _UNKNOWN) = range(21)
_NKINDS = 21

# classes by the code they dump as; a subclass takes the code of its first base here
_CODE_BASES: tuple[tuple[type[BtfType], int], ...] = (
    (Int, _INT), (Ptr, _PTR), (Array, _ARRAY), (Struct, _STRUCT), (Union, _UNION),
    (Composite, _UNION),  # neither: what the ``isinstance(t, Struct)`` tests made it
    (Enum, _ENUM), (Fwd, _FWD), (Typedef, _TYPEDEF), (Volatile, _VOLATILE), (Const, _CONST),
    (Restrict, _RESTRICT), (Func, _FUNC), (FuncProto, _FUNC_PROTO), (Var, _VAR),
    (Datasec, _DATASEC), (Float, _FLOAT), (DeclTag, _DECL_TAG), (TypeTag, _TYPE_TAG),
    (Enum64, _ENUM64), (Unknown, _UNKNOWN), (Void, _VOID), (BtfType, _VOID),
)


class _KindCodes(dict[type, int]):
    def __missing__(self, cls: type) -> int:
        for base, code in _CODE_BASES:
            if issubclass(cls, base):
                self[cls] = code
                return code
        raise BtfbuildError(f"{cls.__name__} cannot be dumped as C")


_KIND_CODES = _KindCodes()


def _table(*codes: int) -> tuple[bool, ...]:
    return tuple(k in codes for k in range(_NKINDS))


_IS_COMPOSITE = _table(_STRUCT, _UNION)
_IS_SIZED = _table(_INT, _STRUCT, _UNION, _ENUM, _ENUM64, _DATASEC, _FLOAT)
_IS_ENUM = _table(_ENUM, _ENUM64)
_IS_ENUM_OR_FWD = _table(_ENUM, _ENUM64, _FWD)
_IS_INTLIKE = _table(_INT, _FLOAT)
_IS_SCALAR = _table(_INT, _ENUM, _ENUM64, _FLOAT)
_IS_SIZE_THROUGH = _table(_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG, _VAR, _DECL_TAG)
_IS_ALIGN_THROUGH = _table(_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG, _ARRAY)
# followed for the sort (rank and name) and the tie-break hash: libbpf's references + arrays
_IS_THROUGH = _table(_PTR, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG, _DECL_TAG)
_IS_FOLLOWED = _table(_PTR, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG, _DECL_TAG, _ARRAY)
_IS_MODIFIER = _table(_VOLATILE, _CONST, _RESTRICT, _TYPE_TAG)
# what a declarator's chain runs through (a function prototype: through its return type)
_IS_CHAIN_LINK = _table(_PTR, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG, _ARRAY)
# what the emitting pass passes through to the referenced type, changing nothing
_IS_EMIT_PASS = _table(_PTR, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG, _ARRAY)
# nothing dumping them does but mark them ordered: left out of the sort
_IS_NOOP = _table(_FUNC, _VAR, _DATASEC)


def _mask(*codes: int) -> bytes:
    """A bytes.translate table: 1 for *codes*, 0 for the other kinds."""
    return bytes(1 if k in codes else 0 for k in range(256))


# bytes.translate tables: 1 for the kinds dumping does something for but function prototypes
# (classified in bulk), or for the others
_ACTORS_BUT_PROTOS = bytes(0 if k < _NKINDS and (_IS_NOOP[k] or k == _FUNC_PROTO) else 1
                           for k in range(256))
_FUNCS_VARS = _mask(_FUNC, _VAR)
_COMPOSITES = _mask(_STRUCT, _UNION)
_FUNC_PROTOS = _mask(_FUNC_PROTO)
# the rank of a type at the end of a named reference chain (and of a named type itself)
_RANK_NAMED = tuple(
    1 if k in (_ENUM, _ENUM64) else 2 if k in (_INT, _FLOAT) else 3 if k in (_STRUCT, _UNION)
    else 4 if k == _FUNC_PROTO else _MAX_RANK
    for k in range(_NKINDS)
)
_RANK_CHAR = [chr(r) for r in range(_MAX_RANK + 1)]
_ANON_KEY = f"{_RANK_CHAR[_MAX_RANK]}\0"  # no sort name, no name, the last rank: the least key

_KIND_NAMES = ("UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
               "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT",
               "DECL_TAG", "TYPE_TAG", "ENUM64", "UNKN")

_IS_QUALIFIED = _table(_PTR, _CONST, _VOLATILE, _RESTRICT)  # what _quick_base runs through
_QUALIFIER_BEFORE = {_CONST: "const ", _VOLATILE: "volatile ", _RESTRICT: "restrict "}
_QUALIFIER_AFTER = {_CONST: " const", _VOLATILE: " volatile", _RESTRICT: " restrict"}

# stands for the declared name while a declarator is printed the first time (no C name has one)
_NAME_MARK = "\0"

_TYPE_ID = attrgetter("type_id")
_INDEX_TYPE_ID = attrgetter("index_type_id")
_PLUS_ONE = (1).__add__
_SECOND = itemgetter(1)
_U32 = "I" if array("I").itemsize == 4 else "L"  # array type code of a 32-bit unsigned
# the words of a struct's or union's members, of a prototype's parameters (host byte order)
_MEMBERS = struct.Struct("=III").iter_unpack
_PARAMS = struct.Struct("=II").iter_unpack
_ZERO_WORD = bytes(4)


def _scatter(table: list[Any], ids: Iterable[int], values: Iterable[Any]) -> None:
    """``table[i] = v`` for each pair: C-level (``__setitem__`` returns None, which ``any``
    drops), for the ~40k ids of vmlinux's structs, unions and prototypes."""
    any(map(table.__setitem__, ids, values))


def _ids_of(kinds: bytes, *codes: int) -> list[int]:
    """The ids of the types of kinds *codes*, by code: for kinds with few types, where a pass
    over all ids (``compress``) would cost more (~25M instructions for vmlinux)."""
    out: list[int] = []
    for code in codes:
        tid = kinds.find(code)
        while tid >= 0:
            out.append(tid)
            tid = kinds.find(code, tid + 1)
    return out


def _indent(lvl: int) -> str:
    return _INDENT[lvl if lvl < _MAX_INDENT else _MAX_INDENT]


def _roundup(x: int, y: int) -> int:
    return (x + y - 1) // y * y


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


class _Names(dict[int, str]):
    """Names by string offset; an offset inside a string is read from the table on a miss."""

    def __init__(self, btf: Btf) -> None:
        super().__init__(btf.strings.items())
        self[0] = ""
        self._get = btf.strings.get

    def __missing__(self, off: int) -> str:
        s = self[off] = self._get(off)
        return s


class CDumper:
    """libbpf's ``struct btf_dump`` for C output: state carried across ``dump_type`` calls,
    over flat tables of the types (``kinds`` tells what each entry of ``types`` is).

    The per-id tables indexed in the passes are lists, not bytes or bytearrays: indexing a
    list is a specialised instruction, indexing bytes is a generic call (~10x the work);
    ``kind_bytes`` is for the bulk operations (``find``, ``translate``).

    Slots, as the state is read in every step: with more than 30 attributes an instance dict
    is no longer a split one, and each ``self.x`` a dict lookup rather than a slot read."""

    __slots__ = (
        "_align", "_decl_anon", "_decl_inline", "_decl_named", "_emit_to", "_final", "_hashes",
        "_inline_defs", "_layouts", "_proto_ids", "_proto_targets", "_proto_words", "_size",
        "_str_hashes", "_struct_words", "current", "emit_state", "fwd_emitted", "ident_names",
        "keys", "kind_bytes", "kinds", "members", "name", "name_offs", "names", "order_state",
        "param_words", "parts", "ptr_size", "queue", "referenced", "resolved", "str_of",
        "type_names", "types", "write",
    )

    def __init__(self, btf: Btf) -> None:
        types: list[Any] = [btf.type(0)]
        for b in _chain_of(btf):
            types.extend(b.types)
        self.types = types
        n = len(types)
        self.kind_bytes = kinds = bytes(map(_KIND_CODES.__getitem__, map(type, types)))
        if _UNKNOWN in kinds:
            t = types[kinds.index(_UNKNOWN)]
            raise BtfbuildError(f"kind {t.raw_kind} cannot be dumped as C")
        # by id, the members of a struct or union as (name offset, type, offset word as BTF
        # has it), and the words of a prototype's parameters, decoded where they are read
        # (mostly once); the C-level map and _scatter spare a Python step per type
        ids = list(compress(range(n), kinds.translate(_COMPOSITES)))
        self._struct_words = words_of(list(map(types.__getitem__, ids)))
        self.members: list[Sequence[tuple[int, int, int]]] = [()] * n
        _scatter(self.members, ids, map(list, map(_MEMBERS, self._struct_words)))
        self._proto_ids = ids = list(compress(range(n), kinds.translate(_FUNC_PROTOS)))
        self._proto_words = words_of(list(map(types.__getitem__, ids)))
        self.param_words: list[bytes] = [b""] * n
        _scatter(self.param_words, ids, self._proto_words)
        self.str_of = str_of = _Names(btf)
        self.name = str_of.__getitem__
        self.kinds: list[int] = list(kinds)
        self.name_offs: list[int] = [t.name_off for t in types]
        self.names: list[str] = list(map(str_of.__getitem__, self.name_offs))
        self.ptr_size = self._pointer_size()
        self.order_state = [_NOT_STARTED] * n
        self.order_state[0] = _DONE
        self.emit_state = [_NOT_STARTED] * n
        self.emit_state[0] = _DONE
        # (sets: few types are in them, and a list per id is a megabyte to fill for vmlinux)
        self.fwd_emitted: set[int] = set()
        self.referenced: set[int] = set()  # for the types it matters for: see _classify
        self.resolved: list[str | None] = [None] * n
        self.type_names: dict[str, int] = {}  # struct, union and enum tags
        self.ident_names: dict[str, int] = {}  # typedef names and enumerators
        self._align: list[int | None] = [None] * n
        self._layouts: dict[int, tuple[int, bool]] = {}
        self._size: list[int | None] = [None] * n
        self._emit_to: list[int] = [-1] * n  # past pointers, modifiers and arrays
        self._proto_targets: dict[int, list[int]] = {}  # what emitting a prototype emits
        # declarators printed once, reused: "before" and "after" the name, or the whole text
        self._decl_named: dict[int, tuple[str, str]] = {}
        self._decl_anon: dict[int, str] = {}
        self._decl_inline: set[int] = set()  # those that define a type inline: never reused
        self._inline_defs = 0
        # bpftool's sort (see _classify, _runs)
        self.keys: list[str | None] = [None] * n
        self._final: list[int] = [-1] * n
        self._hashes: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self._str_hashes: dict[int, int] = {}
        self.current = 0  # the type dump_type is at
        self.queue: list[int] = []
        self.parts: list[str] = []
        self.write = self.parts.append

    def take_output(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text

    def _pointer_size(self) -> int:
        """The size of the first 'long' type, as libbpf guesses it; else the host's (8)."""
        kinds = self.kind_bytes
        names = self.names
        types = self.types
        tid = kinds.find(_INT)
        while tid >= 0:
            t = types[tid]
            if t.size in (4, 8) and names[tid] in _LONG_NAMES:
                return int(t.size)
            tid = kinds.find(_INT, tid + 1)
        return 8

    # -- bpftool's sort order -------------------------------------------------------------

    def _final_of(self, tid: int) -> int:
        """The type *tid*'s chain of typedefs, modifiers, pointers and arrays ends at (void for
        a loop), remembered for every type on the way (chains can be long)."""
        final = self._final
        types = self.types
        kinds = self.kinds
        followed = _IS_FOLLOWED
        path: list[int] = []
        result = 0
        for _ in range(len(types) + 1):  # more steps than types: a loop
            result = final[tid]
            if result >= 0:
                break
            if not followed[kinds[tid]]:
                result = tid
                break
            path.append(tid)
            tid = types[tid].type_id
        else:
            result = 0
        for p in path:
            final[p] = result
        return result

    def _key(self, tid: int) -> str:
        """The rank, the name to sort by and the type's own name, as one string that compares
        as the three would one after the other (names hold no NUL).

        Ranks: anonymous enums, named enums, ints and floats, named structs and unions, named
        function prototypes, then the rest; a typedef ranks as the type it stands for. The sort
        name is an enum's name (an anonymous one's first enumerator), the name of what a
        reference type refers to in the end, or the type's own name."""
        key = self.keys[tid]
        if key is not None:
            return key
        k = self.kinds[tid]
        own = self.names[tid]
        named = self.name_offs[tid] != 0  # (an offset may name an empty string)
        rank = _MAX_RANK
        sort_name = own
        if _IS_FOLLOWED[k]:
            f = self._final_of(self.types[tid].type_id)
            if named:
                rank = _RANK_NAMED[self.kinds[f]]
            sort_name = self.names[f]
        elif _IS_ENUM[k]:
            if named:
                rank = 1
            else:
                rank = 0
                sort_name = ""
                for off, _ in self.types[tid].value_pairs():  # the first one's name
                    sort_name = self.name(off)
                    break
        elif _IS_INTLIKE[k]:
            rank = 2
        elif named and (_IS_COMPOSITE[k] or k == _FUNC_PROTO):
            rank = _RANK_NAMED[k]
        key = self.keys[tid] = f"{_RANK_CHAR[rank]}{sort_name}\0{own}"
        return key

    def _str_hash_of(self, off: int) -> int:
        h = self._str_hashes.get(off)
        if h is None:
            h = self._str_hashes[off] = _str_hash(self.name(off))
        return h

    def _disambig_hash(self, tid: int, members: bool = True) -> int:
        """Hash of the names a type is made of (a struct's members' names and their types'
        names too, with *members*); separates types alike in the other keys."""
        memo = self._hashes[members]
        h = memo.get(tid)
        if h is not None:
            return h
        t = self.types[tid]
        k = self.kinds[tid]
        sh = self._str_hash_of
        h = sh(t.name_off) if t.name_off else 0
        if _IS_ENUM[k]:
            for off, _ in t.value_pairs():
                if off:
                    h = h * 31 + sh(off)
        elif _IS_COMPOSITE[k]:
            if members:
                for off, mt, _ in self.members[tid]:
                    if off:
                        h = h * 31 + sh(off)
                    h = h * 31 + self._disambig_hash(mt, False)
        elif _IS_THROUGH[k]:
            h = h * 31 + self._disambig_hash(t.type_id, members)
        elif k == _ARRAY:
            h = (h * 31 + t.nelems) * 31 + self._disambig_hash(t.type_id, members)
        h &= _U64  # arithmetic modulo 2**64 whenever it is reduced
        memo[tid] = h
        return h

    def _sorts_before(self, a: int, b: int) -> bool:
        """Whether bpftool sorts *a* before *b* (the hashes only if the keys are equal)."""
        ka = self._key(a)
        kb = self._key(b)
        if ka != kb:
            return ka < kb
        return (self._disambig_hash(a), a) < (self._disambig_hash(b), b)

    def _classify(self) -> tuple[list[int], list[int], list[int]]:
        """The ids to dump (all but FUNC, VAR and DATASEC, see _noop_seen) that rank before
        the last rank, with their keys; and the rest, whose keys wait until the first ones
        are dumped, as most of them are dumped by then (see dump_all), but for the anonymous
        function prototypes, which come third. Marks the ``referenced`` types on the way."""
        types = self.types
        kinds = self.kinds
        names = self.names
        name_offs = self.name_offs
        keys = self.keys
        final = self._final
        final_of = self._final_of
        followed = _IS_FOLLOWED
        rank_char = _RANK_CHAR
        rank_named = _RANK_NAMED
        emit_pass = _IS_EMIT_PASS
        emit_to = self._emit_to
        sizes = self._size
        aligns = self._align
        ptr_size = self.ptr_size
        kbytes = self.kind_bytes
        first: list[int] = []
        add_first = first.append
        rest: list[int] = []
        add_rest = rest.append
        # libbpf's referenced marks only tell whether an anonymous enum is a top-level constant
        unnamed_enums: list[int] = []
        refs: list[int] = []
        add_ref = refs.append
        arrays: list[Any] = []
        # function prototypes, a quarter of vmlinux and nearly all anonymous, in bulk
        protos = self._proto_ids
        anon_protos = list(filterfalse(name_offs.__getitem__, protos))
        if len(anon_protos) != len(protos):
            for tid in compress(protos, map(name_offs.__getitem__, protos)):
                own = names[tid]
                keys[tid] = f"{rank_char[4]}{own}\0{own}"
                add_first(tid)
        for tid in compress(range(len(types)), kbytes.translate(_ACTORS_BUT_PROTOS)):
            k = kinds[tid]
            if followed[k]:
                t = types[tid]
                nxt = t.type_id
                if k == _ARRAY:
                    arrays.append(t)
                else:
                    add_ref(nxt)
                    if k == _PTR:  # what the emitting pass asks about, cheaper here
                        sizes[tid] = aligns[tid] = ptr_size
                if emit_pass[k] and not emit_pass[kinds[nxt]]:
                    emit_to[tid] = nxt
                if name_offs[tid]:
                    f = final[nxt]
                    if f < 0:
                        f = final_of(nxt) if followed[kinds[nxt]] else nxt
                    rank = rank_named[kinds[f]]
                    if rank < _MAX_RANK:
                        keys[tid] = f"{rank_char[rank]}{names[f]}\0{names[tid]}"
                        add_first(tid)
                        continue
                add_rest(tid)
            elif _IS_COMPOSITE[k]:
                sizes[tid] = types[tid].size
                if name_offs[tid]:
                    own = names[tid]
                    keys[tid] = f"{rank_char[3]}{own}\0{own}"
                    add_first(tid)
                else:
                    add_rest(tid)
            elif _IS_SCALAR[k]:
                if not name_offs[tid] and _IS_ENUM[k]:
                    unnamed_enums.append(tid)
                size = types[tid].size
                sizes[tid] = size
                aligns[tid] = min(ptr_size, size)
                self._key(tid)
                add_first(tid)
            else:  # FWD, DECL_TAG without a name, void
                if k == _FWD and not name_offs[tid]:
                    unnamed_enums.append(tid)
                add_rest(tid)

        if unnamed_enums:
            # which of them anything refers to: intersections with the (few) candidates look
            # each reference up in a small set rather than add them all to a large one; the
            # types of members and parameters are read from their words in one array each,
            # other ids by list comprehensions, where reading a slot is a specialised
            # instruction (map with attrgetter is a generic lookup per item)
            wanted = set(unnamed_enums)
            found = wanted.intersection(refs)
            found |= wanted.intersection(array(_U32, b"".join(self._struct_words))[1::3])
            found |= wanted.intersection(array(_U32, b"".join(self._proto_words))[1::2])
            found |= wanted.intersection(chain(map(_TYPE_ID, arrays),
                                               map(_INDEX_TYPE_ID, arrays)))
            if found != wanted:  # FUNC, VAR and DATASEC refer too
                found |= wanted.intersection(
                    [t.type_id for t in compress(types, kbytes.translate(_FUNCS_VARS))])
                for tid in _ids_of(kbytes, _DATASEC):
                    found |= wanted.intersection(map(_TYPE_ID, types[tid].vars))
            self.referenced = found
        if len(anon_protos) != len(protos):
            first.sort()  # in id order, as _runs needs it
        return first, rest, anon_protos

    def _runs(self, ids: list[int]) -> list[int | list[int]]:
        """*ids* sorted by key, a run of equal keys as a list in id order: the tie-breaking
        hashes are only needed once the run is reached (see run)."""
        keys = self.keys
        for tid in ids:
            if keys[tid] is None:
                self._key(tid)
        key_of: Any = keys.__getitem__
        ids = sorted(ids, key=key_of)
        sorted_keys = list(map(key_of, ids))
        # the positions of keys equal to the one before, then where such runs start and end
        ties = list(compress(range(1, len(ids)),
                             map(eq, sorted_keys, islice(sorted_keys, 1, None))))
        if not ties:
            return list(ids)
        starts = compress(ties, map(ne, ties, map(_PLUS_ONE, chain((-2,), ties))))
        ends = compress(ties, map(ne, map(_PLUS_ONE, ties), chain(islice(ties, 1, None), (-1,))))
        order: list[int | list[int]] = []
        pos = 0
        for start, end in zip(starts, ends, strict=True):
            order.extend(ids[pos:start - 1])
            order.append(ids[start - 1:end + 1])  # in id order: the sort is stable
            pos = end + 1
        order.extend(ids[pos:])
        return order

    def _pop_first(self, order: list[int | list[int]]) -> int:
        """Take the type bpftool sorts first, and never dumps, out of *order*."""
        head = order[0]
        if isinstance(head, list):
            head[:] = self._by_hash(head)
            return head.pop(0)
        del order[0]
        return head

    def _by_hash(self, tids: list[int], zeros: list[int] | None = None) -> list[int]:
        """*tids*, alike in their keys and in id order, by their tie-breaking hashes, then by
        id. Anonymous function prototypes, the most of them, hash to 0; *zeros*: more of them,
        in id order."""
        kinds = self.kinds
        name_offs = self.name_offs
        zeros = list(zeros) if zeros else []
        others = []
        for tid in tids:
            if kinds[tid] == _FUNC_PROTO and not name_offs[tid]:
                zeros.append(tid)
            else:
                others.append(tid)
        if not others:
            return sorted(zeros)
        others.sort(key=self._disambig_hash)  # stable: then by id
        n = 0
        while n < len(others) and not self._disambig_hash(others[n]):
            n += 1
        return sorted(zeros + others[:n]) + others[n:]

    # -- entry points ---------------------------------------------------------------------

    def dump_all(self, out: TextIO) -> None:
        """bpftool's loop: ``dump_type`` for every type, in its order."""
        first, rest, protos = self._classify()
        if not first:  # all of the last rank: void comes first (the least key, hash and id)
            order = self._runs(sorted(rest + protos))
            self._pop_first(order)
            self.run(order, out)
            return
        order = self._runs(first)
        self._pop_first(order)
        self.run(order, out)
        # the last rank: only the order of those that will do something matters
        order = self._runs(self._pending(rest))
        # anonymous prototypes have the least key there and hash to 0: they come first, along
        # with what else has that key, by hash and id
        lead: list[int] = []
        if order:
            head = order[0]
            if self.keys[head[0] if isinstance(head, list) else head] == _ANON_KEY:
                del order[0]
                lead = head if isinstance(head, list) else [head]
        self._run_lead(self._by_hash(lead, protos), out)
        self.run(order, out)

    def _run_lead(self, tids: list[int], out: TextIO) -> None:
        """``run`` for a list in order, mostly prototypes: ``dump_type`` inline for them."""
        state = self.order_state
        kinds = self.kinds
        types = self.types
        order = self._order
        queue = self.queue
        emit = self._emit
        param_words = self.param_words
        params = _PARAMS
        for tid in tids:
            if kinds[tid] == _FUNC_PROTO:
                self.current = tid
                ret = types[tid].ret_type_id
                if state[ret] != _DONE:
                    order(ret, False)
                for _, pt in params(param_words[tid]):
                    if state[pt] != _DONE:
                        order(pt, False)
                if queue:
                    for qid in queue:
                        emit(qid, 0)
                    queue.clear()
                    if len(self.parts) > 65536:
                        _write(out, self.take_output())
            elif state[tid] != _DONE:
                self.dump_type(tid)

    def run(self, order: list[int | list[int]], out: TextIO) -> None:
        """``dump_type`` for each id of *order* (see _runs) that is not dumped yet."""
        state = self.order_state
        parts = self.parts
        dump_type = self.dump_type
        for item in order:
            if isinstance(item, list):
                tids = self._pending(item)  # only their order matters
                if len(tids) > 1:
                    tids = self._by_hash(tids)
                for tid in tids:
                    if state[tid] != _DONE:
                        dump_type(tid)
            elif state[item] != _DONE:  # else it and all it needs are out already
                dump_type(item)
            else:
                continue
            if len(parts) > 65536:
                _write(out, self.take_output())

    def dump_type(self, tid: int) -> None:
        """Emit *tid*'s definition after whatever it depends on that is not out yet."""
        self.current = tid
        if self.kinds[tid] == _FUNC_PROTO:  # the most common: inline, the strength unused
            state = self.order_state
            order = self._order
            ret = self.types[tid].ret_type_id
            if state[ret] != _DONE:
                order(ret, False)
            for _, pt in _PARAMS(self.param_words[tid]):
                if state[pt] != _DONE:
                    order(pt, False)
        else:
            self._order(tid, False)
        queue = self.queue
        if queue:
            for qid in queue:
                self._emit(qid, 0)
            queue.clear()

    def emit_decl(self, tid: int, fname: str, lvl: int = 0) -> None:
        """A declaration of *fname* with type *tid* (no trailing ``;``)."""
        self._decl(tid, fname, lvl)

    # -- names ----------------------------------------------------------------------------

    def _resolve_name(self, tid: int, seen: dict[str, int]) -> str:
        name = self.resolved[tid]
        if name is not None:
            return name
        if not self.name_offs[tid]:
            return ""
        name = self.names[tid]
        k = self.kinds[tid]
        if not (k == _FWD or (k == _ENUM and not self.types[tid].vlen)):
            count = seen.get(name, 0) + 1
            seen[name] = count
            if count > 1:
                name = f"{name}___{count}"
        self.resolved[tid] = name
        return name

    def _type_name(self, tid: int) -> str:
        name = self.resolved[tid]
        return name if name is not None else self._resolve_name(tid, self.type_names)

    def _ident_name(self, tid: int) -> str:
        name = self.resolved[tid]
        return name if name is not None else self._resolve_name(tid, self.ident_names)

    def _is_blacklisted(self, tid: int) -> bool:
        # a compiler built-in: defining it breaks the build with another compiler
        return bool(self.name_offs[tid]) and self.names[tid] == "__builtin_va_list"

    # -- sizes ----------------------------------------------------------------------------

    def _align_of(self, tid: int) -> int:
        cached = self._align[tid]
        if cached is not None:
            return cached
        t = self.types[tid]
        k = self.kinds[tid]
        align = 0
        if _IS_SCALAR[k]:
            align = min(self.ptr_size, t.size)
        elif k == _PTR:
            align = self.ptr_size
        elif _IS_ALIGN_THROUGH[k]:
            align = self._align_of(t.type_id)
        elif _IS_COMPOSITE[k]:
            align = self._layout(tid)[0]
        self._align[tid] = align
        return align

    def _layout(self, tid: int) -> tuple[int, bool]:
        """A struct's or union's alignment, and whether it is packed: a member is misaligned
        for its type, or the size is not a multiple of the largest alignment."""
        cached = self._layouts.get(tid)
        if cached is not None:
            return cached
        t = self.types[tid]
        aligns = self._align
        max_align = 1
        align: int | None = None  # set by the first member of no alignment or misaligned
        packed = False
        bitfields = t.bitfield_encoding  # offset words hold bitfield size << 24 | bit offset
        for _, mt, offset in self.members[tid]:
            a = aligns[mt]
            if a is None:
                a = self._align_of(mt)
            if a > max_align:
                max_align = a
            elif not a:
                if align is None:
                    align = a
                continue
            if offset % (8 * a) and not (bitfields and offset >> 24):  # misaligned, no bitfield
                packed = True
                if align is None:
                    align = 1
                break
        if align is None:
            align = 1 if t.size % max_align else max_align
        result = self._layouts[tid] = (align, packed or t.size % max_align != 0)
        return result

    def _resolve_size(self, tid: int) -> int:
        """libbpf's ``btf__resolve_size``; -1 where it fails. Kept (it is asked per member)."""
        types = self.types
        kinds = self.kinds
        start = tid
        nelems = 1
        for _ in range(_MAX_RESOLVE_DEPTH):
            k = kinds[tid]
            if _IS_SIZED[k]:
                size: int = types[tid].size
                break
            if k == _PTR:
                size = self.ptr_size
                break
            if _IS_SIZE_THROUGH[k]:
                tid = types[tid].type_id
            elif k == _ARRAY:
                t = types[tid]
                if nelems and t.nelems > _U32_MAX // nelems:
                    size = -1
                    break
                nelems *= t.nelems
                tid = t.type_id
            else:
                size = -1
                break
        else:
            size = -1
        if size >= 0:
            size = -1 if nelems and size > _U32_MAX // nelems else nelems * size
        self._size[start] = size
        return size

    # -- ordering pass --------------------------------------------------------------------

    def _settled(self, tid: int) -> bool:
        """Whether ordering *tid* is done with for good: it is ordered, or it only leads (by
        pointers, modifiers and arrays) to a type that is. Ordering it again does nothing and
        says the link is strong."""
        state = self.order_state
        return state[tid] == _DONE or (
            _IS_EMIT_PASS[self.kinds[tid]] and state[self._emit_target(tid)] == _DONE)

    def _pending(self, tids: list[int]) -> list[int]:
        """Those of *tids* that dumping may still do something for: not settled, nor an
        anonymous struct or union of settled members (an unnamed type is never queued)."""
        kinds = self.kinds
        state = self.order_state
        emit_to = self._emit_to
        emit_pass = _IS_EMIT_PASS
        out = []
        for tid in tids:
            if state[tid] == _DONE:
                continue
            k = kinds[tid]
            if emit_pass[k]:
                to = emit_to[tid]
                if state[to if to >= 0 else self._emit_target(tid)] == _DONE:
                    continue
            elif _IS_COMPOSITE[k] and not self.name_offs[tid] and all(
                    map(self._settled, map(_SECOND, self.members[tid]))):
                continue
            out.append(tid)
        return out

    def _noop_seen(self, tid: int) -> bool:
        """Whether bpftool's loop would have dumped *tid* (a FUNC, VAR or DATASEC, which the
        loop here skips) before the type being dumped now: only then is it ordered already."""
        return self._sorts_before(tid, self.current)

    def _order(self, tid: int, through_ptr: bool) -> int:
        """Queue the definitions *tid* needs; 1 if the link to it is strong, 0 if weak."""
        state = self.order_state
        st = state[tid]
        if st == _DONE:
            return 1
        k = self.kinds[tid]
        if st == _IN_PROGRESS:
            if _IS_COMPOSITE[k] and through_ptr and self.name_offs[tid]:
                return 0
            raise BtfbuildError(f"unsatisfiable type cycle, id:[{tid}]")

        if k == _PTR:
            # inline: what _order returns for an ordered type or a named struct or union
            # behind a pointer (most pointers lead to one or the other)
            nxt = self.types[tid].type_id
            if state[nxt] == _DONE:
                strong = 1
            elif _IS_COMPOSITE[self.kinds[nxt]] and self.name_offs[nxt]:
                strong = 0
            else:
                strong = self._order(nxt, True)
            state[tid] = _DONE
            return strong
        if _IS_COMPOSITE[k]:
            named = self.name_offs[tid]
            # named and behind a pointer: a forward declaration will do
            if through_ptr and named:
                return 0
            state[tid] = _IN_PROGRESS
            order = self._order
            for _, mt, _ in self.members[tid]:
                if state[mt] != _DONE:  # else nothing to do
                    order(mt, False)
            if named:
                self.queue.append(tid)
            state[tid] = _DONE
            return 1
        if k == _FUNC_PROTO:
            ret = self.types[tid].ret_type_id
            strong = state[ret] == _DONE or self._order(ret, through_ptr) > 0
            order = self._order
            for _, pt in _PARAMS(self.param_words[tid]):
                if state[pt] == _DONE or order(pt, through_ptr) > 0:
                    strong = True
            return int(strong)
        if k == _TYPEDEF:
            nxt = self.types[tid].type_id
            strong = 1 if state[nxt] == _DONE else self._order(nxt, through_ptr)
            if through_ptr and not strong:
                return 0
            self.queue.append(tid)
            state[tid] = _DONE
            return 1
        if _IS_MODIFIER[k]:
            nxt = self.types[tid].type_id
            return 1 if state[nxt] == _DONE else self._order(nxt, through_ptr)
        if k == _ARRAY:
            nxt = self.types[tid].type_id
            return 1 if state[nxt] == _DONE else self._order(nxt, False)
        if _IS_INTLIKE[k]:
            state[tid] = _DONE
            return 0
        if _IS_ENUM_OR_FWD[k]:
            # anonymous enums used by nothing are constants: they get a definition of their own
            if self.name_offs[tid] or tid not in self.referenced:
                self.queue.append(tid)
            state[tid] = _DONE
            return 1
        if k == _DECL_TAG:
            state[tid] = _DONE
            return 0
        if _IS_NOOP[k]:
            seen = self._noop_seen(tid)
            state[tid] = _DONE
            return 1 if seen else 0
        raise BtfbuildError(f"type [{tid}]: kind {_KIND_NAMES[k]} cannot be dumped as C")

    # -- emitting pass --------------------------------------------------------------------

    def _emit_target(self, tid: int) -> int:
        """Where emitting *tid* (a pointer, modifier or array) really starts: at the end of
        its chain of those; *tid* itself for a loop."""
        to = self._emit_to[tid]
        if to >= 0:
            return to
        types = self.types
        kinds = self.kinds
        cur = tid
        for _ in range(len(types)):
            cur = types[cur].type_id
            if not _IS_EMIT_PASS[kinds[cur]]:
                break
        else:
            cur = tid
        self._emit_to[tid] = cur
        return cur

    def _emit(self, tid: int, cont_id: int) -> None:
        """Print *tid*'s definition if it is top-level (``cont_id`` 0), after the forward
        declarations and definitions it needs; *cont_id* is the struct being defined."""
        state = self.emit_state
        st = state[tid]
        if st == _DONE:
            return
        k = self.kinds[tid]
        w = self.write

        if st == _IN_PROGRESS:
            # referenced again while being defined: a forward declaration is needed
            if tid in self.fwd_emitted:
                return
            if _IS_COMPOSITE[k]:
                if tid == cont_id or not self.name_offs[tid]:  # self-reference; anonymous loop
                    return
                self._struct_fwd(tid)
                w(";\n\n")
                self.fwd_emitted.add(tid)
            elif k == _TYPEDEF:
                # the typedef is enough for uses through a pointer
                if not self._is_blacklisted(tid):
                    self._typedef_def(tid, 0)
                    w(";\n\n")
                self.fwd_emitted.add(tid)
            return

        if _IS_COMPOSITE[k]:
            state[tid] = _IN_PROGRESS
            top_level = cont_id == 0
            named = self.name_offs[tid]
            t = self.types[tid]
            if top_level or not named:
                # the members will be spelled out: their types must be declared first
                inner = tid if named else cont_id
                emit = self._emit
                pass_through = _IS_EMIT_PASS
                kinds = self.kinds
                emit_to = self._emit_to
                for _, mt, _ in self.members[tid]:
                    if state[mt] == _DONE:
                        continue
                    if pass_through[kinds[mt]]:
                        to = emit_to[mt]
                        if to < 0:
                            to = self._emit_target(mt)
                        if state[to] == _DONE:
                            state[mt] = _DONE  # nothing to emit for it, ever again
                            continue
                        mt = to
                    emit(mt, inner)
            elif tid not in self.fwd_emitted and tid != cont_id:
                self._struct_fwd(tid)
                w(";\n\n")
                self.fwd_emitted.add(tid)
            if top_level:
                self._struct_def(tid, t, 0)
                w(";\n\n")
                state[tid] = _DONE
            else:
                state[tid] = _NOT_STARTED
        elif _IS_EMIT_PASS[k]:
            to = self._emit_target(tid)
            if to == tid:  # a loop
                self._emit(self.types[tid].type_id, cont_id)
            elif state[to] != _DONE:
                self._emit(to, cont_id)
            if state[to] == _DONE:
                state[tid] = _DONE  # nothing to emit for it, ever again
        elif k == _TYPEDEF:
            state[tid] = _IN_PROGRESS
            self._emit(self.types[tid].type_id, tid)
            if tid not in self.fwd_emitted and not self._is_blacklisted(tid):
                self._typedef_def(tid, 0)
                w(";\n\n")
            state[tid] = _DONE
        elif k == _FUNC_PROTO:
            targets = self._proto_targets.get(tid)
            if targets is None:
                params = _PARAMS(self.param_words[tid])
                targets = self._proto_targets[tid] = [
                    self._emit_target(x) if _IS_EMIT_PASS[self.kinds[x]] else x
                    for x in (self.types[tid].ret_type_id, *map(_SECOND, params))]
            pending = False
            for x in targets:
                if state[x] != _DONE:
                    self._emit(x, cont_id)
                    if state[x] != _DONE:
                        pending = True
            if not pending:
                state[tid] = _DONE  # nothing to emit for it, ever again
        elif k == _INT:
            alias = _MISSING_BASE_TYPES.get(self._type_name(tid))
            if alias is not None:
                w(f"typedef {alias} {self._type_name(tid)};\n\n")
            state[tid] = _DONE
        elif _IS_ENUM[k]:
            if cont_id == 0:
                self._enum_def(tid, 0)
                w(";\n\n")
            state[tid] = _DONE
        elif k == _FWD:
            self._fwd_def(tid)
            w(";\n\n")
            state[tid] = _DONE

    # -- definitions ----------------------------------------------------------------------

    def _struct_fwd(self, tid: int) -> None:
        keyword = "struct" if self.kinds[tid] == _STRUCT else "union"
        self.write(f"{keyword} {self._type_name(tid)}" if self.name_offs[tid] else keyword)

    def _fwd_def(self, tid: int) -> None:
        keyword = "union" if self.types[tid].is_union else "struct"
        self.write(f"{keyword} {self._type_name(tid)}")

    def _struct_def(self, tid: int, t: Any, lvl: int) -> None:
        w = self.write
        is_struct = self.kinds[tid] == _STRUCT
        align, packed = self._layouts.get(tid) or self._layout(tid)
        packed = packed and is_struct
        keyword = "struct" if is_struct else "union"
        if self.name_offs[tid]:
            name = self.resolved[tid]
            if name is None:
                name = self._type_name(tid)
            w(f"{keyword} {name} {{")
        else:
            w(f"{keyword} {{")

        name_of = self.str_of
        aligns = self._align
        sizes = self._size
        decl_named = self._decl_named
        lvl1 = lvl + 1
        nl_indent = _NL_INDENT[lvl1 if lvl1 < _MAX_INDENT else _MAX_INDENT]
        off = 0
        prev_bitfield = False
        rows = self.members[tid]
        bitfields = t.bitfield_encoding  # offset words hold bitfield size << 24 | bit offset
        for name_off, mt, m_off in rows:
            bits = 0
            if bitfields:
                bits = m_off >> 24
                m_off &= 0xFFFFFF
            if off < m_off:
                m_align = 1 if packed else aligns[mt]
                if m_align is None:
                    m_align = self._align_of(mt)
                self._bit_padding(off, m_off, m_align, prev_bitfield and bits != 0, lvl1)
            fname = name_of[name_off]
            decl = decl_named.get(mt) if fname else None
            if bits:
                if decl is not None:
                    w(f"{nl_indent}{decl[0]}{fname}{decl[1]}: {bits};")
                else:
                    w(nl_indent)
                    self._decl(mt, fname, lvl1)
                    w(f": {bits};")
                off = m_off + bits
                prev_bitfield = True
            else:
                if decl is not None:
                    w(f"{nl_indent}{decl[0]}{fname}{decl[1]};")
                else:
                    w(nl_indent)
                    self._decl(mt, fname, lvl1)
                    w(";")
                size = sizes[mt]
                if size is None:
                    size = self._resolve_size(mt)
                off = m_off + size * 8 if size > 0 else m_off
                prev_bitfield = False

        if is_struct and off < t.size * 8:
            self._bit_padding(off, t.size * 8, align, False, lvl1)
        if rows or t.size:
            w(_NL_INDENT[lvl if lvl < _MAX_INDENT else _MAX_INDENT])
            w("} __attribute__((packed))" if packed else "}")
        else:
            w("} __attribute__((packed))" if packed else "}")  # `struct empty {}`: one line

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

    def _enum_def(self, tid: int, lvl: int) -> None:
        w = self.write
        t = self.types[tid]
        w(f"enum {self._type_name(tid)}" if self.name_offs[tid] else "enum")
        if not t.vlen:
            return
        w(" {")
        name = self.name
        idents = self.ident_names
        nl_indent = "\n" + _indent(lvl + 1)
        signed = t.signed
        if self.kinds[tid] == _ENUM:
            suffix = ""
            bits = 32
        else:
            suffix = "LL" if signed else "ULL"
            bits = 64
        half = 1 << (bits - 1)
        mask = (1 << bits) - 1
        for name_off, value in t.value_pairs():
            ident = name(name_off)
            count = idents.get(ident, 0) + 1  # enumerators share the typedef namespace
            idents[ident] = count
            val = value & mask
            if signed and val >= half:
                val -= 1 << bits
            if count > 1:
                w(f"{nl_indent}{ident}___{count} = {val}{suffix},")
            else:
                w(f"{nl_indent}{ident} = {val}{suffix},")
        w(f"\n{_indent(lvl)}}}")

        if t.size == 1:
            w(" __attribute__((mode(byte)))")
        elif t.size == 8 and self.ptr_size == 8 and (
            # an enum64 with a value over 32 bits is 8 bytes anyway; others must be told
            self.kinds[tid] == _ENUM or all(not (v & _U64) >> 32 for _, v in t.value_pairs())
        ):
            w(" __attribute__((mode(word)))")

    def _typedef_def(self, tid: int, lvl: int) -> None:
        name = self._ident_name(tid)
        target = self.types[tid].type_id
        if target == 0 and name == "__gnuc_va_list":
            # old GCC's typedef of it to void
            self.write("typedef __builtin_va_list __gnuc_va_list")
            return
        self.write("typedef ")
        self._decl(target, name, lvl)

    # -- declarators ----------------------------------------------------------------------

    def _decl(self, tid: int, fname: str, lvl: int) -> None:
        """Print the declaration of *fname* (may be empty) as a *tid*: reused text when it was
        printed before and defined no type inline, else printed now and kept for reuse."""
        if fname:
            done = self._decl_named.get(tid)
            if done is not None:
                self.write(f"{done[0]}{fname}{done[1]}")
                return
        else:
            text = self._decl_anon.get(tid)
            if text is not None:
                self.write(text)
                return
        if tid in self._decl_inline:
            self._chain(self._collect(tid), fname, lvl)
            return
        quick = self._quick_decl(tid, lvl)
        if quick is not None:
            before, after, anon, reusable = quick
            if reusable:
                self._decl_anon[tid] = anon
                self._decl_named[tid] = (before, after)
            else:
                self._decl_inline.add(tid)
            self.write(f"{before}{fname}{after}" if fname else anon)
            return
        parts = self.parts
        start = len(parts)
        inline_defs = self._inline_defs
        self._chain(self._collect(tid), _NAME_MARK if fname else "", lvl)
        text = "".join(parts[start:])
        if self._inline_defs != inline_defs:
            # an anonymous struct or enum spelled out: the text depends on lvl and an enum's
            # enumerators count as new names each time
            self._decl_inline.add(tid)
            if fname:
                text = text.replace(_NAME_MARK, fname)
        elif fname:
            before, mark, after = text.partition(_NAME_MARK)
            if mark:
                self._decl_named[tid] = (before, after)
                text = f"{before}{fname}{after}"
            else:  # not a type a declaration can be made of: no name printed
                self._decl_inline.add(tid)
        else:
            self._decl_anon[tid] = text
        parts[start:] = [text]

    def _quick_decl(self, tid: int, lvl: int) -> tuple[str, str, str, bool] | None:
        """What ``_chain`` prints before and after a name, and without one, for most
        declarations (see _quick_base), an array of them and a pointer to a function returning
        one, without its machinery; and whether the text may be reused. None for the rest."""
        text = self._quick_base(tid)
        if text is not None:
            return (text if text.endswith("*") else f"{text} "), "", text, True
        t = self.types[tid]
        k = self.kinds[tid]
        if k == _ARRAY:
            text = self._quick_base(t.type_id)
            if text is None:
                return None
            return ((text if text.endswith("*") else f"{text} "), f"[{t.nelems}]",
                    f"{text}[{t.nelems}]", True)
        if k != _PTR or self.kinds[t.type_id] != _FUNC_PROTO:
            return None
        proto = self.types[t.type_id]
        text = self._quick_base(proto.ret_type_id)
        if text is None:
            return None
        parts = self.parts
        start = len(parts)
        inline_defs = self._inline_defs
        self._params(t.type_id, lvl)
        params = "".join(parts[start:])
        del parts[start:]
        return f"{text} (*", f"){params}", f"{text} (*){params}", inline_defs == self._inline_defs

    def _quick_base(self, tid: int) -> str | None:
        """What ``_chain`` prints before the name for pointers and qualifiers over a named type
        (most declarations), without its machinery; None for anything else."""
        kinds = self.kinds
        k = kinds[tid]
        if not _IS_QUALIFIED[k] or not tid:
            return self._base_text(tid)
        types = self.types
        nxt = types[tid].type_id
        if k == _PTR and (not _IS_QUALIFIED[kinds[nxt]] or not nxt):  # the most common
            base = self._base_text(nxt)
            return None if base is None else f"{base} *"
        links: list[int] = []  # outermost first
        for _ in range(8):
            k = kinds[tid]
            if not _IS_QUALIFIED[k] or not tid:
                break
            links.append(k)
            tid = types[tid].type_id
        else:
            return None
        base = self._base_text(tid)
        if base is None:
            return None
        out = []
        # the qualifiers right over the type go before it (innermost first)
        while links and links[-1] != _PTR:
            out.append(_QUALIFIER_BEFORE[links.pop()])
        out.append(base)
        after_ptr = False
        while links:
            k = links.pop()
            if k == _PTR:
                out.append("*" if after_ptr else " *")
                after_ptr = True
            else:
                out.append(_QUALIFIER_AFTER[k])
                after_ptr = False
        return "".join(out)

    def _base_text(self, tid: int) -> str | None:
        """How ``_chain`` names *tid* as the base of a declaration: void, a named type, or an
        integer, typedef or forward declaration; None for anything else."""
        if not tid:
            return "void"
        k = self.kinds[tid]
        if _IS_INTLIKE[k]:
            return self.names[tid]
        name = self.resolved[tid]
        if k == _TYPEDEF:
            return name if name is not None else self._ident_name(tid)
        if not self.name_offs[tid]:
            return None
        if name is None:
            if k != _STRUCT and k != _UNION and k != _ENUM and k != _ENUM64 and k != _FWD:
                return None
            name = self._type_name(tid)
        if k == _STRUCT:
            return f"struct {name}"
        if k == _UNION:
            return f"union {name}"
        if _IS_ENUM[k]:
            return f"enum {name}"
        if k == _FWD:
            return f"{'union' if self.types[tid].is_union else 'struct'} {name}"
        return None

    def _collect(self, tid: int) -> list[int]:
        types = self.types
        kinds = self.kinds
        chain: list[int] = []
        for _ in range(len(types) + 1):
            chain.append(tid)
            if tid == 0:
                break
            k = kinds[tid]
            if _IS_CHAIN_LINK[k]:
                tid = types[tid].type_id
            elif k == _FUNC_PROTO:
                tid = types[tid].ret_type_id
            else:
                break
        return chain

    def _pop_qualifiers(self, chain: list[int]) -> None:
        """Print the const/volatile/restrict applying to the base type now on top."""
        kinds = self.kinds
        w = self.write
        while chain:
            k = kinds[chain[-1]]
            if k == _VOLATILE:
                w("volatile ")
            elif k == _CONST:
                w("const ")
            elif k == _RESTRICT:
                w("restrict ")
            else:
                return
            chain.pop()

    def _drop_modifiers(self, chain: list[int]) -> None:
        kinds = self.kinds
        while chain and _IS_MODIFIER[kinds[chain[-1]]]:
            chain.pop()

    def _chain(self, chain: list[int], fname: str, lvl: int) -> None:
        """Print the declarator in *chain* (outermost type first, base type last) for
        *fname*, consuming the chain."""
        types = self.types
        kinds = self.kinds
        w = self.write
        after_ptr = True  # no space before a '*' or a name right after another '*'
        while chain:
            tid = chain.pop()
            if tid == 0:
                self._pop_qualifiers(chain)
                w("void")
                after_ptr = False
                continue
            k = kinds[tid]
            if k == _PTR:
                w("*" if after_ptr else " *")
                after_ptr = True
                continue
            if _IS_INTLIKE[k]:
                self._pop_qualifiers(chain)
                w(self.names[tid])
            elif _IS_COMPOSITE[k]:
                self._pop_qualifiers(chain)
                if self.name_offs[tid]:
                    self._struct_fwd(tid)
                else:
                    self._inline_defs += 1
                    self._struct_def(tid, types[tid], lvl)
            elif k == _TYPEDEF:
                self._pop_qualifiers(chain)
                w(self._ident_name(tid))
            elif k == _CONST:
                w(" const")
            elif k == _VOLATILE:
                w(" volatile")
            elif k == _RESTRICT:
                w(" restrict")
            elif _IS_ENUM[k]:
                self._pop_qualifiers(chain)
                if self.name_offs[tid]:
                    w(f"enum {self._type_name(tid)}")
                else:
                    self._inline_defs += 1
                    self._enum_def(tid, lvl)
            elif k == _FWD:
                self._pop_qualifiers(chain)
                self._fwd_def(tid)
            elif k == _TYPE_TAG:
                self._pop_qualifiers(chain)
                w(f' __attribute__((btf_type_tag("{self.names[tid]}")))')
            elif k == _ARRAY:
                nelems = types[tid].nelems
                # qualifiers of an array are those of its elements (a GCC quirk): drop them
                self._drop_modifiers(chain)
                if not chain:
                    self._name(fname, after_ptr)
                    w(f"[{nelems}]")
                    return
                multidim = kinds[chain[-1]] == _ARRAY
                if fname and not after_ptr:
                    w(" ")
                if not multidim:
                    w("(")
                self._chain(chain, fname, lvl)
                if not multidim:
                    w(")")
                w(f"[{nelems}]")
                return
            elif k == _FUNC_PROTO:
                # GCC's volatile on noreturn function pointers: dropped too
                self._drop_modifiers(chain)
                if chain:
                    w(" (")
                    self._chain(chain, fname, lvl)
                    w(")")
                else:
                    self._name(fname, after_ptr)
                self._params(tid, lvl)
                return
            else:
                return  # not a type a declaration can be made of
            after_ptr = False
        self._name(fname, after_ptr)

    def _name(self, fname: str, after_ptr: bool) -> None:
        if fname and not after_ptr:
            self.write(" ")
        self.write(fname)

    def _params(self, tid: int, lvl: int) -> None:
        """The parameter list of the function prototype *tid*."""
        w = self.write
        words = self.param_words[tid]
        # no parameters, or clang's single void one for BPF (one parameter of type 0)
        if not words or (len(words) == 8 and words[4:] == _ZERO_WORD):
            w("(void)")
            return
        w("(")
        last = len(words) // 8 - 1
        name = self.name
        for i, (name_off, pt) in enumerate(_PARAMS(words)):
            if i:
                w(", ")
            if i == last and pt == 0:
                w("...")
                break
            self._decl(pt, name(name_off), lvl)
        w(")")


def _chain_of(btf: Btf) -> list[Btf]:
    """*btf* and its bases, the first base first."""
    out = [btf]
    while out[-1].base is not None:
        out.append(out[-1].base)
    out.reverse()
    return out


def _kfuncs(d: CDumper) -> None:
    """``extern`` prototypes of the functions tagged ``bpf_kfunc``, in id order."""
    w = d.write
    w("\n/* BPF kfuncs */\n#ifndef BPF_NO_KFUNC_PROTOTYPES\n")
    types = d.types
    kinds = d.kind_bytes
    tid = kinds.find(_DECL_TAG)
    while tid >= 0:
        t = types[tid]
        if t.component_idx == -1 and d.names[tid] == KFUNC_TAG:
            fid = t.type_id
            if d.kinds[fid] == _FUNC:
                w("extern ")
                d.emit_decl(types[fid].type_id, d.names[fid])
                w(" __weak __ksym;\n")
        tid = kinds.find(_DECL_TAG, tid + 1)
    w("#endif\n\n")


def dump_c(btf: Btf, out: TextIO) -> CDumper:
    """Write *btf* (split BTF: with its base) as ``bpftool btf dump file F format c`` does.
    Returns the dumper: freeing its tables (hundreds of thousands of objects for vmlinux) costs
    ~12 ms, which a process about to end can skip by keeping it (see ``cli._exit_now``)."""
    # hundreds of thousands of short-lived lists, tuples and strings and no cycles: the cyclic
    # GC would only rescan them (~10% of the time)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _dump_c(btf, out)
    finally:
        if gc_was_enabled:
            gc.enable()


def _dump_c(btf: Btf, out: TextIO) -> CDumper:
    d = CDumper(btf)
    limit = sys.getrecursionlimit()
    # type graphs nest deeper than Python's default limit; the calls are Python-only
    sys.setrecursionlimit(max(limit, 3 * len(d.types) + 1000))
    try:
        d.write(PREAMBLE)
        try:
            d.dump_all(out)
        except BtfbuildError:
            _write(out, d.take_output())  # what came out before, as bpftool leaves it
            raise
        _kfuncs(d)
        d.write(EPILOGUE)
        _write(out, d.take_output())
    finally:
        sys.setrecursionlimit(limit)
    return d


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
