"""``btfbuild check``: the kernel's BTF rules on real kernels, on hand-made cases, and the CLI."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from btfbuild.btf import Btf, encode, load, parse
from btfbuild.btf.types import (
    Array,
    Const,
    Datasec,
    DeclTag,
    Func,
    FuncLinkage,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Member,
    Param,
    Ptr,
    Struct,
    Typedef,
    TypeTag,
    Var,
    VarLinkage,
    VarSecinfo,
)
from btfbuild.check import Problem, validate
from tests.conftest import MODULES


def small() -> Btf:
    """A valid BTF touching the resolve rules: struct with bitfields, pointers, arrays, a
    function with a decl tag, a variable in a section."""
    b = Btf()
    s = b.add_str
    i32 = b.add(Int(s("int"), 4, IntEncoding.SIGNED, 0, 32))  # [1]
    u64 = b.add(Int(s("long unsigned int"), 8, IntEncoding.NONE, 0, 64))  # [2]
    arr = b.add(Array(0, i32, i32, 4))  # [3]
    fwd = b.add(Fwd(s("opaque")))  # [4]
    st = b.add(Struct(s("foo"), 32, [  # [5]
        Member(s("a"), i32, 0),
        Member(s("bits"), i32, 32, 3),
        Member(s("arr"), arr, 64),
        Member(s("next"), 6, 192),
    ], bitfield_encoding=True))
    b.add(Ptr(0, fwd))  # [6]
    td = b.add(Typedef(s("foo_t"), st))  # [7]
    cptr = b.add(Ptr(0, b.add(Const(0, td))))  # [8] const, [9] ptr
    proto = b.add(FuncProto(0, i32, [Param(s("f"), cptr), Param(s("n"), u64)]))  # [10]
    fn = b.add(Func(s("handle"), proto, FuncLinkage.GLOBAL))  # [11]
    b.add(DeclTag(s("arg_tag"), fn, 1))  # [12]
    var = b.add(Var(s("counter"), i32, VarLinkage.GLOBAL_ALLOCATED))  # [13]
    b.add(Datasec(s(".data"), 8, [VarSecinfo(var, 4, 4)]))  # [14]
    return b


def reasons(b: Btf) -> list[str]:
    return [str(p) for p in validate(b)]


# -- hand-made cases ---------------------------------------------------------------------------


def test_small_is_valid_in_memory_and_raw() -> None:
    b = small()
    assert validate(b) == []
    assert validate(parse(encode(b))) == []


def test_problem_names_type_kind_name_and_member() -> None:
    b = small()
    foo = b.type(5)
    assert isinstance(foo, Struct)
    foo.members[2].type_id = 999
    assert reasons(b) == ["[5] STRUCT foo: member arr: Invalid member"]
    p = validate(b)[0]
    assert (p.type_id, p.kind, p.name) == (5, "STRUCT", "foo")
    assert p == Problem(5, "STRUCT", "member arr: Invalid member", "foo")


def test_meta_problems_are_reported_for_every_type() -> None:
    b = small()
    b.types[6] = Typedef(0, 5)  # [7] typedef without a name
    b.types[3] = Fwd(0)  # [4] anonymous forward
    b.add(Func(b.add_str("ext"), 10, FuncLinkage.EXTERN))  # [15]
    assert reasons(b) == [
        "[4] FWD (anon): Invalid name",
        "[7] TYPEDEF (anon): Invalid name",
        "[15] FUNC ext: Invalid func linkage",
    ]


def test_a_loop_is_reported_once() -> None:
    b = small()
    b.types[6] = Typedef(b.types[6].name_off, 8)  # foo_t -> const -> foo_t
    assert reasons(b) == ["[7] TYPEDEF foo_t: Loop detected"]


def test_resolve_failure_does_not_cascade() -> None:
    b = small()
    b.types[0] = Int(b.types[0].name_off, 4, IntEncoding.SIGNED, 0, 33)  # [1] int: 33 bits
    # everything that uses int fails with it; only the int itself is reported
    assert reasons(b) == ["[1] INT int: nr_bits exceeds type_size"]


def test_member_overlapping_the_end() -> None:
    b = small()
    foo = b.type(5)
    assert isinstance(foo, Struct)
    foo.size = 28  # the pointer at byte 24 needs 8
    assert reasons(b) == ["[5] STRUCT foo: member next: Member exceeds struct_size"]


def test_type_tag_after_modifier_and_attribute_tags() -> None:
    b = small()
    tag = b.add(TypeTag(b.add_str("user"), 1))  # [15]
    b.add(Ptr(0, b.add(Const(0, tag))))  # [16] const -> tag, [17]
    assert reasons(b) == ["[16] CONST (anon): Type tags don't precede modifiers"]
    b = small()
    b.add(TypeTag(b.add_str("address_space(1)"), 0, is_attr=True))
    b.add(DeclTag(b.add_str("attr"), 11, -1, is_attr=True))
    assert validate(b) == []  # kernels 6.14+
    assert [p.reason for p in validate(b, tag_kflag=False)] == ["Invalid btf_info kind_flag"] * 2


def test_pointer_size_follows_the_target() -> None:
    b = small()
    long_t = b.type(2)
    assert isinstance(long_t, Int)
    long_t.size, long_t.bits = 4, 32  # a 32-bit target: 'long' is 4 bytes, so are pointers
    foo = b.type(5)
    assert isinstance(foo, Struct)
    foo.size = 28
    assert validate(b) == []
    assert validate(b, ptr_size=8) != []


def test_reader_unknown_records_are_problems() -> None:
    data = bytearray(encode(small()))
    b = parse(bytes(data))
    # [4] FWD: set its 'type' field, which the reader keeps as an Unknown record
    off = 24 + _record_offset(b, 4)
    struct.pack_into("<I", data, off + 8, 1)
    # [1] INT: a reserved info bit
    off = 24 + _record_offset(b, 1)
    info = struct.unpack_from("<I", data, off + 4)[0]
    struct.pack_into("<I", data, off + 4, info | 0x00010000)
    assert reasons(parse(bytes(data))) == [
        "[1] INT int: Invalid btf_info:1010000",
        "[4] FWD opaque: type != 0",
    ]


def test_int_data_bits_the_kernel_ignores() -> None:
    strs = b"\0int\0"

    def one_int(int_data: int) -> Btf:
        types = struct.pack("<IIII", 1, 0x01000000, 4, int_data)
        return parse(struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 16, 16, len(strs))
                     + types + strs)

    assert validate(one_int(0x01000120)) == []  # bits 8-15: the reader keeps it raw, fine
    assert [str(p) for p in validate(one_int(0x10000020))] == [
        "[1] INT int: Invalid int_data:10000020"]


def _record_offset(b: Btf, tid: int) -> int:
    """Byte offset of type *tid*'s record in the type section written by ``encode``."""
    one = Btf()
    one.strings = b.strings
    one.types = b.types[: tid - 1]
    return len(encode(one)) - 24 - len(b.strings)


def test_header_and_string_section_rules() -> None:
    raw = bytearray(encode(small()))
    hdr = struct.unpack_from("<HBBIIIII", raw)
    type_len, str_len = hdr[5], hdr[7]
    # strings first, then types: sections still tile the data, but strings are not at the end
    strs, types = raw[24 + type_len :], raw[24 : 24 + type_len]
    swapped = bytearray(raw[:24] + strs + types)
    struct.pack_into("<IIII", swapped, 8, str_len, type_len, 0, str_len)
    assert reasons(parse(bytes(swapped))) == [
        "strings: String section is not at the end", "header: Unaligned type_off"]
    # a gap after the strings
    gap = bytes(raw) + b"\0\0\0\0"
    assert reasons(parse(gap)) == ["header: Unsupported section found"]
    # flags, and a string section that does not end with NUL
    bad = bytearray(raw)
    bad[3] = 1
    bad[-1] = ord("x")
    assert reasons(parse(bytes(bad))) == [
        "header: Unsupported flags", "strings: Invalid string section: last byte is not NUL"]


def test_split_btf_rules() -> None:
    base = small()
    split = Btf(base)
    assert validate(split) == []  # no types and no strings: fine for split BTF
    ptr = split.add(Ptr(0, 5))  # pointer to the base's struct foo
    split.add(Struct(split.add_str("bar"), 40, [Member(base.strings.find("a") or 0, ptr, 0),
                                                  Member(split.add_str("v"), 7, 64)]))
    assert validate(split) == []
    again = parse(encode(split), base)
    assert validate(again) == []
    split.add(Typedef(split.add_str("bad"), 100))
    assert [str(p) for p in validate(split)] == ["[17] TYPEDEF bad: Invalid type_id"]


# -- real kernels ------------------------------------------------------------------------------


def test_sysfs_vmlinux_is_valid(sysfs_vmlinux: Path) -> None:
    assert [str(p) for p in validate(load(sysfs_vmlinux, sanity=False))] == []


@pytest.mark.realkernel
def test_debian_61_vmlinux_is_valid(vmlinux61: Path) -> None:
    assert [str(p) for p in validate(load(vmlinux61, sanity=False))] == []


@pytest.mark.realkernel
@pytest.mark.parametrize("module", MODULES)
def test_debian_61_modules_are_valid(linux61: Path, vmlinux61: Path, module: str) -> None:
    base = load(vmlinux61)
    split = load(linux61 / "modules" / f"{module}.ko", base, sanity=False)
    assert len(split) > 0
    assert [str(p) for p in validate(split)] == []


# -- the command line --------------------------------------------------------------------------


def run_check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "btfbuild", "check", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.btf"
    path.write_bytes(encode(small()))
    r = run_check(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{path}: OK (14 types)\n"
    assert run_check(path, "-q").stdout == ""


def test_cli_corrupted_file_one_line_per_problem(tmp_path: Path) -> None:
    b = small()
    foo = b.type(5)
    assert isinstance(foo, Struct)
    foo.members[0].type_id = 0  # a void member
    b.types[6] = Typedef(b.add_str("1bad"), 5)  # not an identifier
    b.types[12] = Var(b.types[12].name_off, 1, VarLinkage.GLOBAL_EXTERN)
    path = tmp_path / "bad.btf"
    path.write_bytes(encode(b))
    r = run_check(path)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        f"{path}: [5] STRUCT foo: member a: Invalid type_id",
        f"{path}: [7] TYPEDEF 1bad: Invalid name",
        f"{path}: [13] VAR counter: Linkage not supported",
    ]


@pytest.mark.parametrize("mangle", [
    pytest.param(lambda d: d[:30], id="truncated"),
    pytest.param(lambda d: d[:10], id="truncated-header"),
    pytest.param(lambda d: b"\x00\x00" + d[2:], id="bad-magic"),
    pytest.param(lambda d: d[:-8], id="truncated-strings"),
])
def test_cli_unreadable_file_one_line(tmp_path: Path, mangle) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "broken.btf"
    path.write_bytes(mangle(encode(small())))
    r = run_check(path)
    assert r.returncode == 1
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(str(path))
    assert "Traceback" not in r.stderr


@pytest.mark.realkernel
def test_cli_split_module(linux61: Path, vmlinux61: Path) -> None:
    r = run_check(linux61 / "modules" / "fou.ko", "-B", vmlinux61)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("OK (69 types)\n")
