"""``btfbuild dump -f c`` (vmlinux.h), judged by bpftool 7.5's ``format c`` on the same files.

Small BTFs built through the model exercise one C-declaration corner each; every one is written
as raw BTF and dumped by both tools, so bpftool is the only oracle. The real kernels (Debian 6.1
with a split module, and this machine's /sys/kernel/btf/vmlinux) are compared the same way and
the headers are compiled for the BPF target.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from btfbuild.btf import Btf, encode, load, parse
from btfbuild.btf.types import (
    Array,
    BtfType,
    Composite,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncLinkage,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Member,
    Param,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Var,
    VarLinkage,
    VarSecinfo,
    Volatile,
)
from btfbuild.dump.c import dump_c
from tests.btfgen import every_kind

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample.bpf.c"


def bpftool_c(tool: Path, path: Path, base: Path | None = None) -> str:
    argv = [str(tool), *(["-B", str(base)] if base else []), "btf", "dump", "file", str(path),
            "format", "c"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def ours_c(path: Path, base: Path | None = None) -> str:
    out = io.StringIO()
    dump_c(load(path, load(base) if base else None), out)
    return out.getvalue()


def assert_same_c(tool: Path, path: Path, base: Path | None = None) -> str:
    theirs = bpftool_c(tool, path, base)
    ours = ours_c(path, base)
    if ours != theirs:  # show where, not two whole headers
        ol, tl = ours.splitlines(), theirs.splitlines()
        i = next((i for i, (a, b) in enumerate(zip(ol, tl, strict=False)) if a != b),
                 min(len(ol), len(tl)))
        pytest.fail(f"{path}: first difference at line {i + 1}:\n"
                    f"  ours:    {ol[i:i + 3]}\n  bpftool: {tl[i:i + 3]}")
    return ours


def compile_bpf(clang: str, header: str, tmp_path: Path, name: str = "vmlinux") -> None:
    h = tmp_path / f"{name}.h"
    h.write_text(header)
    src = tmp_path / f"{name}_use.c"
    src.write_text(f'#include "{h.name}"\n\nint use_it(void) {{ return 0; }}\n')
    res = subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-c", str(src),
                          "-o", str(tmp_path / f"{name}.o")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-4000:]


# -- small BTFs, one corner each ---------------------------------------------------------------


class Builder:
    """Terse construction of a BTF with the common base types."""

    def __init__(self) -> None:
        self.btf = Btf()
        self.int = self.add_int("int", 4, signed=True)
        self.uint = self.add_int("unsigned int", 4)
        self.char = self.add(Int(self.s("char"), 1, IntEncoding.SIGNED | IntEncoding.CHAR, 0, 8))
        self.u8 = self.add_int("unsigned char", 1)
        self.u16 = self.add_int("short unsigned int", 2)
        self.long = self.add_int("long int", 8, signed=True)
        self.ulong = self.add_int("long unsigned int", 8)

    def s(self, name: str) -> int:
        return self.btf.add_str(name) if name else 0

    def add(self, t: BtfType) -> int:
        return self.btf.add(t)

    def add_int(self, name: str, size: int, *, signed: bool = False) -> int:
        enc = IntEncoding.SIGNED if signed else IntEncoding.NONE
        return self.add(Int(self.s(name), size, enc, 0, size * 8))

    def ptr(self, tid: int) -> int:
        return self.add(Ptr(0, tid))

    def struct(self, name: str, size: int, members: list[tuple[str, int, int, int]],
               *, union: bool = False) -> int:
        """*members*: (name, type, bit offset, bitfield size)."""
        cls = Union if union else Struct
        bitfields = any(m[3] for m in members)
        return self.add(cls(self.s(name), size,
                            [Member(self.s(n), t, off, bits) for n, t, off, bits in members],
                            bitfield_encoding=bitfields))

    def enum(self, name: str, values: list[tuple[str, int]], *, size: int = 4,
             signed: bool = False, wide: bool = False) -> int:
        cls = Enum64 if wide else Enum
        return self.add(cls(self.s(name), size, [EnumValue(self.s(n), v) for n, v in values],
                            signed))

    def proto(self, ret: int, params: list[tuple[str, int]]) -> int:
        return self.add(FuncProto(0, ret, [Param(self.s(n), t) for n, t in params]))

    def typedef(self, name: str, tid: int) -> int:
        return self.add(Typedef(self.s(name), tid))


def case_bitfields() -> Btf:
    b = Builder()
    b.struct("flags", 16, [
        ("a", b.uint, 0, 3),
        ("b", b.uint, 3, 5),
        ("c", b.u8, 8, 0),
        ("d", b.uint, 20, 4),  # a gap after a plain member
        ("e", b.ulong, 64, 40),
        ("f", b.u16, 110, 2),  # a gap between bitfields, then tail padding
    ])
    b.struct("gaps", 32, [
        ("x", b.u8, 0, 0),
        ("y", b.int, 64, 0),  # not where int alignment would put it
        ("z", b.ulong, 192, 0),
    ])
    b.struct("tail", 24, [("x", b.int, 0, 0)])  # explicit padding to a size of 24
    b.struct("wide", 12, [("hi", b.ulong, 0, 33), ("lo", b.uint, 64, 7)])
    b.struct("empty", 0, [])
    b.struct("holes", 16, [("a", b.char, 0, 0), ("b", b.char, 104, 0)])
    return b.btf


def case_anonymous() -> Btf:
    b = Builder()
    pair = b.struct("", 4, [("a", b.u16, 0, 0), ("b", b.u16, 16, 0)])
    inner = b.struct("", 8, [("i", b.int, 0, 0), ("l", b.ulong, 0, 0), ("pair", pair, 0, 0)],
                     union=True)
    deep = b.struct("", 4, [("x", b.int, 0, 0)])
    deeper = b.struct("", 4, [("", deep, 0, 0)], union=True)
    named = b.struct("named", 4, [("v", b.int, 0, 0)])
    holder = b.struct("", 16, [("n", named, 0, 0), ("p", b.ptr(named), 64, 0)])
    b.struct("outer", 48, [
        ("kind", b.int, 0, 0),
        ("", inner, 64, 0),  # embedded anonymous union
        ("ptr_anon", b.ptr(b.struct("", 4, [("y", b.int, 0, 0)])), 128, 0),
        ("", deeper, 192, 0),
        ("holder", holder, 256, 0),
    ])
    return b.btf


def case_function_pointers() -> Btf:
    b = Builder()
    cb = b.proto(b.int, [("a", b.int), ("b", b.ptr(b.char))])
    cb_ptr = b.ptr(cb)
    void_fn = b.ptr(b.proto(0, []))
    clang_void_fn = b.ptr(b.proto(0, [("", 0)]))  # clang's single void parameter
    printf = b.ptr(b.proto(b.int, [("fmt", b.ptr(b.add(Const(0, b.char)))), ("", 0)]))
    factory = b.ptr(b.proto(cb_ptr, [("n", b.long)]))  # returns a function pointer
    anon_ret = b.ptr(b.proto(b.struct("", 8, [("q", b.long, 0, 0)]), [("", b.int)]))
    b.struct("ops", 96, [
        ("cb", cb_ptr, 0, 0),
        ("done", void_fn, 64, 0),
        ("arr_cb", b.add(Array(0, cb_ptr, b.int, 4)), 128, 0),
        ("factory", factory, 384, 0),
        ("printf", printf, 448, 0),
        ("noargs", clang_void_fn, 512, 0),
        ("anon_ret", anon_ret, 576, 0),
        ("cvfn", b.add(Const(0, b.add(Volatile(0, cb_ptr)))), 640, 0),
    ])
    b.typedef("handler_t", cb_ptr)
    b.typedef("fn_t", cb)  # a function type, not a pointer
    b.typedef("noret_t", b.ptr(b.add(Volatile(0, void_fn))))
    return b.btf


def case_arrays() -> Btf:
    b = Builder()
    ip = b.ptr(b.int)
    row = b.add(Array(0, b.int, b.int, 4))
    grid = b.add(Array(0, row, b.int, 3))
    cstr = b.ptr(b.add(Const(0, b.char)))
    b.struct("arrays", 152, [
        ("ptrs", b.add(Array(0, ip, b.int, 8)), 0, 0),
        ("parr", b.ptr(b.add(Array(0, b.int, b.int, 8))), 512, 0),
        ("grid", grid, 576, 0),
        ("rows", b.ptr(grid), 960, 0),
        ("names", b.add(Array(0, cstr, b.int, 2)), 1024, 0),
        ("flex", b.add(Array(0, b.int, b.int, 0)), 1152, 0),
        ("cgrid", b.add(Const(0, b.add(Array(0, b.add(Const(0, b.int)), b.int, 2)))), 1152, 0),
    ])
    b.typedef("arr_t", row)
    b.typedef("parr_t", b.ptr(row))
    return b.btf


def case_qualifiers() -> Btf:
    b = Builder()
    cint = b.add(Const(0, b.int))
    foo = b.struct("foo", 4, [("x", b.int, 0, 0)])
    vul = b.add(Volatile(0, b.ulong))
    user = b.add(TypeTag(b.s("user"), b.int))
    rcu = b.add(TypeTag(b.s("rcu"), foo))
    cstr_t = b.typedef("cstr_t", b.ptr(b.add(Const(0, b.char))))
    b.struct("quals", 96, [
        ("a", b.ptr(cint), 0, 0),
        ("b", b.add(Const(0, b.ptr(b.int))), 64, 0),
        ("c", b.add(Const(0, b.add(Volatile(0, b.int)))), 128, 0),
        ("d", b.add(Const(0, b.add(Volatile(0, b.ptr(vul))))), 192, 0),
        ("e", b.add(Restrict(0, b.ptr(b.int))), 256, 0),
        ("f", b.ptr(b.add(Const(0, foo))), 320, 0),
        ("g", b.add(Const(0, cstr_t)), 384, 0),
        ("h", b.ptr(user), 448, 0),
        ("i", b.ptr(rcu), 512, 0),
        ("j", b.ptr(b.add(Const(0, b.ptr(b.add(Const(0, b.ptr(cint))))))), 576, 0),
        ("k", b.add(Const(0, b.add(TypeTag(b.s("percpu"), b.ptr(b.int))))), 640, 0),
    ])
    b.add(Var(b.s("qvar"), cint, VarLinkage.GLOBAL_ALLOCATED))
    return b.btf


def case_enums() -> Btf:
    b = Builder()
    b.enum("e_unsigned", [("A", 0), ("B", 4_000_000_000)])
    b.enum("e_signed", [("NEG", -1), ("POS", 1), ("MIN", -(1 << 31))], signed=True)
    b.enum("", [("AAA_FIRST", 1)])  # the first type bpftool sorts: never dumped by it
    b.enum("", [("CONST_ONE", 1), ("CONST_TWO", 2)])  # top-level constants
    anon = b.enum("", [("IN_STRUCT", 3)])
    b.struct("holder", 8, [("kind", anon, 0, 0), ("kind2", anon, 32, 0)])
    b.enum("e_byte", [("BYTE_ONE", 1)], size=1)
    b.enum("e_short", [("SHORT_ONE", 1)], size=2)
    b.enum("e_word32", [("WORD_ONE", 1)], size=8)
    b.enum("e64u", [("BIG", 1 << 40), ("MAXU", (1 << 64) - 1)], size=8, wide=True)
    b.enum("e64small", [("SMALL", 1)], size=8, wide=True)
    b.enum("e64s", [("SNEG", -(1 << 40)), ("SPOS", 5)], size=8, signed=True, wide=True)
    b.enum("e64_4", [("FOUR", 4)], size=4, wide=True)
    b.enum("empty", [])
    b.enum("empty64", [], size=8, wide=True)
    b.enum("dupa", [("DUP", 1)])
    b.enum("dupb", [("DUP", 2), ("DUP_T", 3)])
    b.typedef("DUP_T", b.int)  # typedef names share the enumerators' namespace
    return b.btf


def case_packed() -> Btf:
    b = Builder()
    p1 = b.struct("p1", 5, [("c", b.char, 0, 0), ("i", b.int, 8, 0)])
    b.struct("p2", 9, [("l", b.ulong, 0, 0), ("c", b.char, 64, 0)])
    b.struct("aligned_ok", 8, [("c", b.char, 0, 0), ("i", b.int, 32, 0)])
    b.struct("outer2", 6, [("c", b.char, 0, 0), ("p", p1, 8, 0)])
    b.struct("u5", 5, [("i", b.int, 0, 0), ("c", b.add(Array(0, b.char, b.int, 5)), 0, 0)],
             union=True)
    b.struct("bits_packed", 3, [("a", b.uint, 0, 4), ("b", b.u16, 8, 0)])
    b.struct("over_aligned", 16, [("x", b.int, 0, 0), ("y", b.int, 64, 0)])
    return b.btf


def case_forward_decls() -> Btf:
    b = Builder()
    sa = b.add(Struct(b.s("a"), 16, []))
    sb = b.add(Struct(b.s("b"), 24, []))
    sa_t = b.btf.type(sa)
    sb_t = b.btf.type(sb)
    assert isinstance(sa_t, Struct) and isinstance(sb_t, Struct)
    sa_t.members = [Member(b.s("b"), b.ptr(sb), 0), Member(b.s("x"), b.int, 64)]
    sb_t.members = [Member(b.s("a"), b.ptr(sa), 0), Member(b.s("embedded"), sa, 64)]
    opaque = b.add(Fwd(b.s("opaque"), False))
    opaque_u = b.add(Fwd(b.s("opaque_u"), True))
    b.struct("user", 16, [("o", b.ptr(opaque), 0, 0), ("u", b.ptr(opaque_u), 64, 0)])
    lst = b.add(Struct(b.s("list"), 8, []))
    lst_t = b.btf.type(lst)
    assert isinstance(lst_t, Struct)
    lst_t.members = [Member(b.s("next"), b.ptr(lst), 0)]
    node = b.add(Struct(b.s("node"), 8, []))
    node_t = b.typedef("node_t", node)
    node_s = b.btf.type(node)
    assert isinstance(node_s, Struct)
    node_s.members = [Member(b.s("next"), b.ptr(node_t), 0)]
    # a named struct reached through a pointer from inside an anonymous one
    late = b.struct("late", 4, [("v", b.int, 0, 0)])
    anon = b.struct("", 8, [("p", b.ptr(late), 0, 0)])
    b.struct("early", 8, [("", anon, 0, 0)])
    b.add(Fwd(b.s("late"), False))  # a forward declaration of an existing struct
    return b.btf


def case_typedefs() -> Btf:
    b = Builder()
    flt = b.add(Float(b.s("float"), 4))
    point = b.typedef("point_t", b.struct("", 8, [("x", b.int, 0, 0), ("y", b.int, 32, 0)]))
    b.typedef("number_t", b.struct("", 4, [("i", b.int, 0, 0), ("f", flt, 0, 0)], union=True))
    b.typedef("point_ptr_t", b.ptr(point))
    cvoid = b.ptr(b.add(Const(0, 0)))
    b.typedef("cmp_t", b.ptr(b.proto(b.int, [("", cvoid), ("", cvoid)])))
    va = b.typedef("__builtin_va_list", b.ptr(b.char))
    b.typedef("va_list", va)
    b.typedef("__gnuc_va_list", 0)
    b.add(Int(b.s("__Poly8_t"), 1, IntEncoding.NONE, 0, 8))
    b.typedef("arr_t", b.add(Array(0, b.int, b.int, 4)))
    u32 = b.typedef("u32", b.uint)
    b.typedef("__u32_alias", u32)
    b.typedef("e_t", b.enum("", [("TD_A", 0), ("TD_B", 1)]))
    b.struct("uses", 16, [("p", point, 0, 0), ("v", b.ptr(va), 64, 0)])
    return b.btf


def case_name_conflicts() -> Btf:
    b = Builder()
    b.struct("dup", 4, [("a", b.int, 0, 0)])
    b.struct("dup", 8, [("b", b.long, 0, 0)])
    b.struct("dup", 4, [("c", b.int, 0, 0)], union=True)
    b.enum("dup", [("DUPE_X", 1)])
    b.add(Fwd(b.s("dup"), False))
    b.typedef("dup_t", b.int)
    b.typedef("dup_t", b.long)
    b.typedef("dup", b.long)  # typedef names are another namespace than struct tags
    b.enum("same", [("S", 1)])
    b.enum("same", [("S", 1)])
    return b.btf


def case_kfuncs() -> Btf:
    b = Builder()
    sock = b.struct("sock", 8, [("state", b.int, 0, 0)])
    user = b.add(TypeTag(b.s("user"), b.char))
    p1 = b.proto(b.int, [("sk", b.ptr(sock)), ("buf", b.ptr(user)), ("len", b.uint)])
    f1 = b.add(Func(b.s("bpf_sock_thing"), p1, FuncLinkage.GLOBAL))
    b.add(DeclTag(b.s("bpf_kfunc"), f1, -1))
    p2 = b.proto(0, [])
    f2 = b.add(Func(b.s("bpf_nothing"), p2, FuncLinkage.GLOBAL))
    b.add(DeclTag(b.s("bpf_kfunc"), f2, 0))  # on a parameter: not a kfunc
    f3 = b.add(Func(b.s("bpf_other"), p2, FuncLinkage.GLOBAL))
    b.add(DeclTag(b.s("bpf_kfuncx"), f3, -1))  # another tag
    p4 = b.proto(b.ptr(b.proto(0, [("", b.int)])), [("fmt", b.ptr(b.char)), ("", 0)])
    f4 = b.add(Func(b.s("bpf_returns_fn"), p4, FuncLinkage.GLOBAL))
    b.add(DeclTag(b.s("bpf_kfunc"), f4, -1))
    b.add(DeclTag(b.s("bpf_kfunc"), sock, -1))  # not on a function
    v = b.add(Var(b.s("counter"), b.int, VarLinkage.GLOBAL_ALLOCATED))
    b.add(Datasec(b.s(".data"), 4, [VarSecinfo(v, 0, 4)]))
    return b.btf


def case_deep_nesting() -> Btf:
    """Embedding and typedef chains far deeper than Python's default recursion limit."""
    b = Builder()
    prev = b.int
    for i in range(3000):
        prev = b.struct(f"nest{i}", 4, [("m", prev, 0, 0)])
    for i in range(3000):
        prev = b.typedef(f"alias{i}", prev)
    return b.btf


def case_sort_ties() -> Btf:
    """Types of the last rank alike in their sort keys, told apart by the hash of what they are
    made of: anonymous prototypes and what hashes to 0 like them, typedefs of one name."""
    b = Builder()
    foo = b.struct("foo", 8, [("x", b.long, 0, 0)])
    b.proto(b.int, [("", b.int)])  # anonymous prototypes hash to 0 ...
    fn_ptr = b.ptr(b.proto(0, [("", b.ptr(foo))]))  # ... and so does a pointer to one
    b.proto(b.int, [("", b.ptr(b.add(Const(0, foo))))])
    b.typedef("dup_t", b.ptr(0))  # the hash decides which one is dup_t___2
    b.typedef("dup_t", 0)
    b.typedef("dup_t", b.ptr(b.ptr(0)))
    # anonymous structs nothing refers to, alike but for their members' names
    b.struct("", 8, [("b", fn_ptr, 0, 0)])
    b.struct("", 8, [("a", fn_ptr, 0, 0)])
    b.struct("", 8, [("a", b.ptr(b.proto(b.char, [])), 0, 0)], union=True)
    b.add(Fwd(b.s("late_fwd"), False))
    b.ptr(b.add(Fwd(b.s("zfwd"), True)))
    arr4 = b.add(Array(0, b.ptr(b.proto(0, [])), b.int, 4))
    b.add(Array(0, b.ptr(b.proto(0, [])), b.int, 2))
    b.add(Var(b.s("arr_var"), arr4, VarLinkage.GLOBAL_ALLOCATED))
    return b.btf


def case_last_rank_only() -> Btf:
    """No integer, enum or named struct: every type sorts in the last rank, void first."""
    b = Btf()
    s = b.add_str
    fwd = b.add(Fwd(s("opaque"), False))
    p = b.add(Ptr(0, fwd))
    proto = b.add(FuncProto(0, p, [Param(s("o"), p)]))
    b.add(Func(s("aaa"), proto, FuncLinkage.GLOBAL))
    b.add(Struct(0, 8, [Member(s("o"), p, 0)]))
    b.add(Var(s("v"), p, VarLinkage.GLOBAL_ALLOCATED))
    b.add(Typedef(s("vp_t"), b.add(Ptr(0, 0))))
    return b


def case_odd_references() -> Btf:
    """References to FUNC and VAR (libbpf takes them, no compiler makes them), which bpftool
    sorts and dumps like any other type; an anonymous enum only a VAR refers to."""
    b = Builder()
    proto = b.proto(b.int, [])
    fn = b.add(Func(b.s("afunc"), proto, FuncLinkage.GLOBAL))
    var = b.add(Var(b.s("zvar"), b.int, VarLinkage.GLOBAL_ALLOCATED))
    b.typedef("fn_alias", fn)
    b.typedef("var_alias", var)
    b.struct("holder", 8, [("p", b.ptr(fn), 0, 0)])
    # a typedef of a FUNC behind a pointer, the FUNC sorted before or after the pointer
    for fname, early, late in (("aaa", "bbb", "mmm"), ("ccc", "ddd", "nnn")):
        f = b.add(Func(b.s(fname), proto, FuncLinkage.GLOBAL))
        b.typedef(early, b.ptr(b.typedef(late, f)))
    b.enum("", [("ONLY_BY_NOTHING", 1)])
    b.add(Var(b.s("enum_var"), b.add(Enum(0, 4, [EnumValue(b.s("ENUM_BY_VAR"), 2)])),
              VarLinkage.GLOBAL_ALLOCATED))
    return b.btf


CASES: dict[str, Callable[[], Btf]] = {
    "bitfields": case_bitfields,
    "anonymous": case_anonymous,
    "function_pointers": case_function_pointers,
    "arrays": case_arrays,
    "qualifiers": case_qualifiers,
    "enums": case_enums,
    "packed": case_packed,
    "forward_decls": case_forward_decls,
    "typedefs": case_typedefs,
    "name_conflicts": case_name_conflicts,
    "kfuncs": case_kfuncs,
    "deep_nesting": case_deep_nesting,
    "every_kind": every_kind,
    "sort_ties": case_sort_ties,
    "last_rank_only": case_last_rank_only,
    "odd_references": case_odd_references,
}

# The small cases that are valid C once dumped (the others hold deliberate oddities).
COMPILABLE = ("bitfields", "anonymous", "function_pointers", "arrays", "qualifiers", "packed",
              "forward_decls", "name_conflicts", "kfuncs", "sort_ties", "last_rank_only")


@pytest.mark.parametrize("name", list(CASES))
def test_small_btf_matches_bpftool(bpftool75: Path, tmp_path: Path, name: str) -> None:
    f = tmp_path / f"{name}.btf"
    f.write_bytes(encode(CASES[name]()))
    text = assert_same_c(bpftool75, f)
    assert text.startswith("#ifndef __VMLINUX_H__\n")
    assert text.endswith("#endif /* __VMLINUX_H__ */\n")


@pytest.mark.parametrize("name", list(CASES))
def test_records_as_words_or_objects_dump_alike(name: str) -> None:
    """The dumper reads members and parameters from the words as read, or encoded from the
    objects of a BTF built in memory or whose records were asked for: the same header."""
    def text(btf: Btf) -> str:
        out = io.StringIO()
        dump_c(btf, out)
        return out.getvalue()

    built = CASES[name]()
    expected = text(built)
    assert text(parse(encode(built))) == expected
    asked = parse(encode(built))
    for _, t in asked:
        if isinstance(t, Composite | FuncProto):
            assert t.vlen == len(t.members if isinstance(t, Composite) else t.params)
    assert text(asked) == expected


@pytest.mark.parametrize("name", COMPILABLE)
def test_small_btf_compiles(bpftool75: Path, clang: str, tmp_path: Path, name: str) -> None:
    f = tmp_path / f"{name}.btf"
    f.write_bytes(encode(CASES[name]()))
    compile_bpf(clang, ours_c(f), tmp_path, name)


def test_big_endian_matches_bpftool(bpftool75: Path, tmp_path: Path) -> None:
    f = tmp_path / "function_pointers-big.btf"
    f.write_bytes(encode(case_function_pointers(), "big"))
    assert_same_c(bpftool75, f)


def test_cli_writes_the_header(bpftool75: Path, tmp_path: Path) -> None:
    f = tmp_path / "kfuncs.btf"
    f.write_bytes(encode(case_kfuncs()))
    res = subprocess.run([sys.executable, "-m", "btfbuild", "dump", str(f), "-f", "c"],
                         capture_output=True, text=True, check=True)
    assert res.stdout == bpftool_c(bpftool75, f)
    assert "extern int bpf_sock_thing(struct sock *sk, " in res.stdout


def test_clang_bpf_object_matches_bpftool(bpftool75: Path, clang: str, tmp_path: Path) -> None:
    obj = tmp_path / "sample.bpf.o"
    subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-c", str(EXAMPLE), "-o", str(obj)],
                   check=True)
    assert_same_c(bpftool75, obj)


# -- real kernels ------------------------------------------------------------------------------


@pytest.mark.realkernel
def test_debian_vmlinux_matches_bpftool_and_compiles(bpftool75: Path, vmlinux61: Path,
                                                     clang: str, tmp_path: Path) -> None:
    text = assert_same_c(bpftool75, vmlinux61)
    assert "struct task_struct {" in text
    compile_bpf(clang, text, tmp_path)


@pytest.mark.realkernel
def test_debian_split_module_matches_bpftool(bpftool75: Path, linux61: Path) -> None:
    text = assert_same_c(bpftool75, linux61 / "modules" / "fou.ko", linux61 / "vmlinux")
    assert "struct task_struct {" in text  # the base's types are dumped too


@pytest.mark.realkernel
def test_sysfs_vmlinux_matches_bpftool_and_compiles(bpftool75: Path, sysfs_vmlinux: Path,
                                                    clang: str, tmp_path: Path) -> None:
    text = assert_same_c(bpftool75, sysfs_vmlinux)
    compile_bpf(clang, text, tmp_path)
