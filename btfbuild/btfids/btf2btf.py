"""The kfunc annotations resolve_btfids adds to BTF before writing it out (its "btf2btf" step).

Two generations of the kernel tool do this step differently; :mod:`.genbtf` says which one a run
follows.

The released tool (kernels 6.19 to 7.2, ``tools/bpf/resolve_btfids/main.c`` of 7.2) only handles
``KF_IMPLICIT_ARGS``; the decl tags come from pahole's ``decl_tag_kfuncs``, and they are what
says which functions are kfuncs (:func:`tagged_kfuncs`, its ``collect_kfuncs``): each
``DECL_TAG bpf_kfunc`` (not an attribute, component -1) on a FUNC, in tag id order, base BTF
included, whose name has a ``__BTF_ID__func__`` symbol. Its flags are the word after the first
address of that name found inside a ``BTF_SET8`` (any set8, ``BTF_SET8_KFUNCS`` or not, sets by
name descending, the set's count word excluded, one past its last entry included, as
``find_kfunc_flags`` bounds it), 0 if there is none. A FUNC tagged twice is handled twice.

Since bpf-next of August 2026 (commits 692393104909 "Emit bpf_kfunc and bpf_fastcall decl tags"
and 27a78c2e7eee "Process KF_ARENA_* flags"), the kernel's ``tools/bpf/resolve_btfids`` is where
kfuncs get their BTF annotations, which pahole's ``decl_tag_kfuncs`` and ``attributes`` features
used to produce. This module does what it does, in the same order.

Which functions are kfuncs there (:func:`discover`): every ``BTF_SET8`` whose flags word (in the
section as compiled) has ``BTF_SET8_KFUNCS`` lists them; sets are visited in the tool's order
(names descending), entries in address order. Entry *i* is named by the ``__BTF_ID__*`` symbol at
exactly the address of its id/flags pair and must be a FUNC of the object's own BTF (not of the
base), the first of that name; an entry with no symbol or no such FUNC is skipped with a warning.
Its flags are the word after the pair's id. A FUNC met twice keeps one entry; twice with other
flags is an error.

What each kfunc gets (:func:`annotate`), kfuncs in ascending FUNC id (the released tool: in the
order :func:`tagged_kfuncs` gives, and only the ``KF_IMPLICIT_ARGS`` step):

* ``DECL_TAG bpf_kfunc`` on the FUNC, and ``DECL_TAG bpf_fastcall`` with ``KF_FASTCALL``
  (component -1). They are added even when the input has them already (pahole's
  ``decl_tag_kfuncs``): the dedup that follows merges equal tags.
* ``KF_IMPLICIT_ARGS``: a FUNC ``<name>_impl`` with the original prototype and the decl tags of
  the kfunc except ``bpf_kfunc`` (unless the object already has a FUNC of that name; the
  released tool looks in the base BTF too), and for the kfunc a new prototype that stops before
  the first implicit parameter, a pointer (through modifiers) to ``struct bpf_prog_aux`` or
  ``struct btf_struct_meta``.
* arena pointers: with ``KF_ARENA_RET`` the return type, with ``KF_ARENA_ARG1``/``ARG2`` the
  first/second parameter, and any parameter named ``*__arena`` or ``*__arena__nullable``, must be
  pointers; each gets a new ``PTR`` to a ``TYPE_TAG`` attribute ``address_space(1)`` on the
  pointee, in a new prototype (the old one may be shared). One deliberate difference: a pointer
  whose pointee already is that attribute (pahole 1.30's ``attributes`` feature made it) is kept,
  where the kernel tool would wrap it a second time.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from ..btf.model import Btf
from ..btf.types import (
    BtfType,
    Const,
    DeclTag,
    Func,
    FuncProto,
    Param,
    Ptr,
    Restrict,
    Struct,
    TypeTag,
    Volatile,
)
from ..kfuncs import BTF_SET8_KFUNCS, KF_FASTCALL
from .errors import BtfIdsError, Log
from .symbols import Collected, _show

KF_ARENA_RET = 1 << 13
KF_ARENA_ARG1 = 1 << 14
KF_ARENA_ARG2 = 1 << 15
KF_IMPLICIT_ARGS = 1 << 16

TAG_KFUNC = "bpf_kfunc"
TAG_FASTCALL = "bpf_fastcall"
ARENA_ATTR = "address_space(1)"
IMPL_SUFFIX = "_impl"
KSYM_NAME_LEN = 512  # include/linux/kallsyms.h: the longest name, NUL included
IMPLICIT_ARG_STRUCTS = (b"bpf_prog_aux", b"btf_struct_meta")
ARENA_PARAM_SUFFIXES = (b"__arena", b"__arena__nullable")

_MODIFIERS = (Volatile, Const, Restrict, TypeTag)  # libbpf's btf_is_mod()


class Kfunc(NamedTuple):
    name: bytes
    btf_id: int  # the FUNC
    flags: int  # KF_* of its set8 entry


class Discovered(NamedTuple):
    kfuncs: list[Kfunc]  # ascending FUNC id
    warnings: int


def discover(col: Collected, section: bytes, section_addr: int, little_endian: bool, btf: Btf,
             log: Log) -> Discovered:
    """The kfuncs the BTF_SET8_KFUNCS sets of ``.BTF_ids`` (as compiled) list."""
    word = struct.Struct("<I" if little_endian else ">I").unpack_from
    name_at: dict[int, bytes] = {}
    for sym, entry in col.symbols:
        name_at.setdefault(sym.value, entry.name)
    funcs: dict[bytes, int] = {}
    for tid, t in btf:
        if isinstance(t, Func):
            funcs.setdefault(btf.strings.get_bytes(t.name_off), tid)

    found: dict[int, Kfunc] = {}
    warnings = 0
    for s in sorted(col.sets.values(), key=lambda e: e.name, reverse=True):
        if not s.is_set8 or len(s.addrs) != 1:
            continue
        off = s.addrs[0] - section_addr
        if not 0 <= off <= len(section) - 8:
            raise BtfIdsError(f"FAILED set '{_show(s.name)}' at {off} is outside the section "
                              f"({len(section)} bytes)")
        if not word(section, off + 4)[0] & BTF_SET8_KFUNCS:
            continue
        for i in range(max(s.id, 0)):
            pair = off + 8 + 8 * i
            name = name_at.get(s.addrs[0] + 8 + 8 * i)
            if name is None:
                log(0, f"WARN: resolve_btfids: no BTF ID symbol for {_show(s.name)} entry {i}")
                warnings += 1
                continue
            func_id = funcs.get(name)
            if func_id is None:
                log(0, f"WARN: resolve_btfids: no BTF func for kfunc {_show(name)} in "
                       f"{_show(s.name)}")
                warnings += 1
                continue
            if pair + 8 > len(section):
                raise BtfIdsError(f"FAILED malformed set '{_show(s.name)}': entry {i} runs past "
                                  f"the end of the section ({len(section)} bytes)")
            log(1, f"found kfunc {_show(name)} in {_show(s.name)}")
            kfunc = Kfunc(name, func_id, word(section, pair + 4)[0])
            seen = found.setdefault(func_id, kfunc)
            if seen.flags != kfunc.flags:
                raise BtfIdsError(f"ERROR: resolve_btfids: kfunc {_show(name)} has inconsistent "
                                  f"flags across BTF ID sets: 0x{seen.flags:x} != "
                                  f"0x{kfunc.flags:x}")
    return Discovered([found[k] for k in sorted(found)], warnings)


def tagged_kfuncs(col: Collected, section: bytes, section_addr: int, little_endian: bool,
                  btf: Btf) -> list[Kfunc]:
    """The kfuncs as the released tool finds them: FUNCs with a ``bpf_kfunc`` decl tag."""
    word = struct.Struct("<I" if little_endian else ">I").unpack_from
    set8s = sorted((s for s in col.sets.values() if s.is_set8 and len(s.addrs) == 1),
                   key=lambda e: e.name, reverse=True)
    symbols = col.names["func"]

    def flags_of(addrs: list[int]) -> int:
        for s in set8s:
            low, high = s.addrs[0], s.addrs[0] + s.id * 8
            for addr in addrs:
                if low < addr <= high:
                    off = (addr - section_addr) // 4 * 4 + 4
                    return word(section, off)[0] if 0 <= off <= len(section) - 4 else 0
        return 0

    found = []
    for _, tag in btf.all_types():
        if not isinstance(tag, DeclTag) or tag.is_attr or tag.component_idx != -1 or \
                btf.str(tag.name_off) != TAG_KFUNC or not btf.has_type(tag.type_id):
            continue
        func = btf.type(tag.type_id)
        if not isinstance(func, Func):
            continue
        entry = symbols.get(btf.strings.get_bytes(func.name_off))
        if entry is not None:
            found.append(Kfunc(entry.name, tag.type_id, flags_of(entry.addrs)))
    return found


def annotate(btf: Btf, kfuncs: list[Kfunc], log: Log, *, released: bool = False) -> None:
    """Add the decl tags, ``_impl`` functions and prototypes of *kfuncs* to *btf* (in place);
    *released*: as the released tool, the ``_impl`` functions and prototypes only."""
    _Annotator(btf, log, released).run(kfuncs)


class _Annotator:
    def __init__(self, btf: Btf, log: Log, released: bool) -> None:
        self.btf = btf
        self.log = log
        self.released = released
        # every decl tag, those added here included: the _impl functions copy them
        self.tags = [tid for tid, t in btf.all_types() if isinstance(t, DeclTag)]
        self.own_funcs: set[bytes] | None = None  # names of the object's own FUNCs, when needed

    def run(self, kfuncs: list[Kfunc]) -> None:
        if self.released:
            for k in kfuncs:
                if k.flags & KF_IMPLICIT_ARGS:
                    self.implicit_args(k)
            return
        for k in kfuncs:
            self.add_tag(TAG_KFUNC, k.btf_id)
            if k.flags & KF_FASTCALL:
                self.add_tag(TAG_FASTCALL, k.btf_id)
            if k.flags & KF_IMPLICIT_ARGS:
                self.implicit_args(k)
            self.arena(k)

    def add_tag(self, name: str, target: int) -> None:
        self.tags.append(self.btf.add(DeclTag(self.btf.add_str(name), target, -1)))

    def func_and_proto(self, k: Kfunc) -> tuple[Func, FuncProto]:
        func = self.btf.type(k.btf_id)
        if not isinstance(func, Func):
            raise BtfIdsError(f"ERROR: resolve_btfids: btf id {k.btf_id} is not a function")
        proto = self.btf.type(func.type_id)
        if not isinstance(proto, FuncProto):
            raise BtfIdsError(f"ERROR: resolve_btfids: btf id {func.type_id} is not a function "
                              "prototype")
        return func, proto

    def implicit_args(self, k: Kfunc) -> None:
        btf = self.btf
        func, proto = self.func_and_proto(k)
        impl = k.name + IMPL_SUFFIX.encode()
        shown = _show(impl)
        if len(impl) >= KSYM_NAME_LEN:
            raise BtfIdsError(f"ERROR: function name is too long: {shown}")
        if self.own_funcs is None:
            # the released tool asks btf__find_by_name_kind(), which searches the base too
            types = btf.all_types() if self.released else iter(btf)
            self.own_funcs = {btf.strings.get_bytes(t.name_off) for _, t in types
                              if isinstance(t, Func)}
        if impl in self.own_funcs:
            self.log(1, f"resolve_btfids: function {shown} already exists in BTF")
        else:
            impl_id = btf.add(Func(btf.add_str(shown), func.type_id, func.linkage))
            self.own_funcs.add(impl)
            for tag_id in list(self.tags):
                tag = btf.type(tag_id)
                assert isinstance(tag, DeclTag)
                if tag.type_id != k.btf_id or btf.str(tag.name_off) == TAG_KFUNC:
                    continue
                btf.add(DeclTag(tag.name_off, impl_id, tag.component_idx, tag.is_attr))
        params: list[Param] = []
        for p in proto.params:
            if self.is_implicit_arg(p):
                break
            params.append(Param(p.name_off, p.type_id))
        func.type_id = btf.add(FuncProto(0, proto.ret_type_id, params))
        self.log(1, f"resolve_btfids: updated BTF for kfunc with implicit args {_show(k.name)}")

    def skip_mods(self, tid: int) -> BtfType:
        t = self.btf.type(tid)
        for _ in range(64):
            if not isinstance(t, _MODIFIERS):
                break
            t = self.btf.type(t.type_id)
        return t

    def is_implicit_arg(self, p: Param) -> bool:
        ptr = self.skip_mods(p.type_id)
        if not isinstance(ptr, Ptr):
            return False
        target = self.skip_mods(ptr.type_id)
        return isinstance(target, Struct) and \
            self.btf.strings.get_bytes(target.name_off) in IMPLICIT_ARG_STRUCTS

    def is_arena_arg(self, k: Kfunc, p: Param, idx: int) -> bool:
        if self.btf.strings.get_bytes(p.name_off).endswith(ARENA_PARAM_SUFFIXES):
            return True
        flag = {0: KF_ARENA_ARG1, 1: KF_ARENA_ARG2}.get(idx, 0)
        return bool(k.flags & flag)

    def arena(self, k: Kfunc) -> None:
        func, proto = self.func_and_proto(k)
        arena_args = [i for i, p in enumerate(proto.params) if self.is_arena_arg(k, p, i)]
        if not k.flags & KF_ARENA_RET and not arena_args:
            return
        ret = proto.ret_type_id
        if k.flags & KF_ARENA_RET:
            ret = self.arena_ptr(k, ret)
        params = [Param(p.name_off, p.type_id) for p in proto.params]
        new_proto = self.btf.add(FuncProto(0, ret, params))
        for i in arena_args:
            params[i].type_id = self.arena_ptr(k, params[i].type_id)
        func.type_id = new_proto
        self.log(1, f"added arena-tagged proto for kfunc {_show(k.name)}: {new_proto}")

    def arena_ptr(self, k: Kfunc, ptr_id: int) -> int:
        """A pointer to what *ptr_id* points to, with the arena attribute in between."""
        btf = self.btf
        ptr = btf.type(ptr_id)
        if not isinstance(ptr, Ptr):
            raise BtfIdsError(f"ERROR: resolve_btfids: kfunc {_show(k.name)}: arena type is not "
                              "a pointer")
        pointee = btf.type(ptr.type_id)
        if isinstance(pointee, TypeTag) and pointee.is_attr and btf.str(pointee.name_off) == \
                ARENA_ATTR:
            return ptr_id
        attr = btf.add(TypeTag(btf.add_str(ARENA_ATTR), ptr.type_id, True))
        return btf.add(Ptr(0, attr))
