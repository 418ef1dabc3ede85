"""Distilled base BTF and relocation, judged by libbpf 1.5's selftests, pahole 1.30 and bpftool 7.5.

The first part rebuilds ``tools/testing/selftests/bpf/prog_tests/btf_distill.c`` (Linux 6.12) with
the model API and expects the same types; the raw text is bpftool's, as our dump prints it (the
selftests' helper prints an enum64 value without bpftool's ``LL`` suffix: the only difference).
The real-kernel part distills Debian 6.1's modules and compares with what pahole 1.30 writes for
kbuild, relocates back and onto this machine's kernel, and reads modules as bpftool does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from btfbuild.btf import Btf, encode, load, parse
from btfbuild.btf.distill import DistillError, distill, distill_base
from btfbuild.btf.elf import read_btf_sections, read_sections
from btfbuild.btf.relocate import RelocationError, relocate
from btfbuild.btf.types import (
    Array,
    Composite,
    Const,
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
    Kind,
    Member,
    Param,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    Union,
    Var,
    Volatile,
)
from btfbuild.dump.raw import raw_lines
from btfbuild.elfedit import ElfEditError, read_btf_ids, replace_sections
from tests.btfgen import every_kind
from tests.conftest import MODULES, empty_elf

SIGNED = IntEncoding.SIGNED


def unified(btf: Btf) -> list[str]:
    """Every type of the unified view, as the selftests' VALIDATE_RAW_BTF lists them."""
    return list(raw_lines(btf, range(1, btf.type_count)))


def btfbuild(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "btfbuild", *map(str, args)],
                          capture_output=True, text=True, check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert err.startswith("btfbuild: ") and "\n" not in err, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err
    return err


# -- prog_tests/btf_distill.c ----------------------------------------------------------------


def selftest_base() -> Btf:
    b = Btf()
    s = b.add_str
    b.add(Int(s("int"), 4, SIGNED, 0, 32))                                    # [1]
    b.add(Ptr(0, 1))                                                          # [2]
    b.add(Struct(s("s1"), 8, [Member(s("f1"), 2, 0)]))                        # [3]
    b.add(Struct(0, 12, [Member(s("f1"), 1, 0), Member(s("f2"), 3, 32)]))     # [4]
    b.add(Int(s("unsigned int"), 4, 0, 0, 32))                                # [5]
    b.add(Union(s("u1"), 12, [Member(s("f1"), 1, 0), Member(s("f2"), 2, 0)]))  # [6]
    b.add(Union(0, 4, [Member(s("f1"), 1, 0)]))                               # [7]
    b.add(Enum(s("e1"), 4, [EnumValue(s("v1"), 1)]))                          # [8]
    b.add(Enum(0, 4, [EnumValue(s("av1"), 2)]))                               # [9]
    b.add(Enum64(s("e641"), 8, [EnumValue(s("v1"), 1024)], signed=True))      # [10]
    b.add(Enum64(0, 8, [EnumValue(s("v1"), 1025)], signed=True))              # [11]
    b.add(Struct(s("unneeded"), 4, [Member(s("f1"), 1, 0)]))                  # [12]
    b.add(Struct(s("embedded"), 4, [Member(s("f1"), 1, 0)]))                  # [13]
    b.add(FuncProto(0, 1, [Param(s("p1"), 1)]))                               # [14]
    b.add(Array(0, 1, 1, 3))                                                  # [15]
    b.add(Struct(s("from_proto"), 4, [Member(s("f1"), 1, 0)]))                # [16]
    b.add(Union(s("u1"), 4, [Member(s("f1"), 1, 0)]))                         # [17]
    return b


def selftest_split(base: Btf) -> Btf:
    sp = Btf(base)
    s = sp.add_str
    sp.add(Ptr(0, 3))                                                   # [18] ptr to struct s1
    sp.add(Ptr(0, 4))                                                   # [19] ptr to anon struct
    sp.add(Const(0, 6))                                                 # [20] const union u1
    sp.add(Restrict(0, 7))                                              # [21] restrict anon union
    sp.add(Volatile(0, 8))                                              # [22] volatile enum e1
    sp.add(Typedef(s("et"), 9))                                         # [23] typedef anon enum
    sp.add(Const(0, 10))                                                # [24] const enum64 e641
    sp.add(Ptr(0, 11))                                                  # [25] ptr to anon enum64
    sp.add(Struct(s("with_embedded"), 4, [Member(s("f1"), 13, 0)]))     # [26]
    sp.add(Func(s("fn"), 14, FuncLinkage.STATIC))                       # [27]
    sp.add(Typedef(s("arraytype"), 15))                                 # [28]
    sp.add(FuncProto(0, 1, [Param(s("p1"), 16)]))                       # [29]
    return sp


BASE_LINES = [
    "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
    "[2] PTR '(anon)' type_id=1",
    "[3] STRUCT 's1' size=8 vlen=1\n\t'f1' type_id=2 bits_offset=0",
    "[4] STRUCT '(anon)' size=12 vlen=2\n\t'f1' type_id=1 bits_offset=0\n"
    "\t'f2' type_id=3 bits_offset=32",
    "[5] INT 'unsigned int' size=4 bits_offset=0 nr_bits=32 encoding=(none)",
    "[6] UNION 'u1' size=12 vlen=2\n\t'f1' type_id=1 bits_offset=0\n\t'f2' type_id=2 bits_offset=0",
    "[7] UNION '(anon)' size=4 vlen=1\n\t'f1' type_id=1 bits_offset=0",
    "[8] ENUM 'e1' encoding=UNSIGNED size=4 vlen=1\n\t'v1' val=1",
    "[9] ENUM '(anon)' encoding=UNSIGNED size=4 vlen=1\n\t'av1' val=2",
    "[10] ENUM64 'e641' encoding=SIGNED size=8 vlen=1\n\t'v1' val=1024LL",
    "[11] ENUM64 '(anon)' encoding=SIGNED size=8 vlen=1\n\t'v1' val=1025LL",
    "[12] STRUCT 'unneeded' size=4 vlen=1\n\t'f1' type_id=1 bits_offset=0",
    "[13] STRUCT 'embedded' size=4 vlen=1\n\t'f1' type_id=1 bits_offset=0",
    "[14] FUNC_PROTO '(anon)' ret_type_id=1 vlen=1\n\t'p1' type_id=1",
    "[15] ARRAY '(anon)' type_id=1 index_type_id=1 nr_elems=3",
    "[16] STRUCT 'from_proto' size=4 vlen=1\n\t'f1' type_id=1 bits_offset=0",
    "[17] UNION 'u1' size=4 vlen=1\n\t'f1' type_id=1 bits_offset=0",
]


def test_distilled_base() -> None:
    base = selftest_base()
    split = selftest_split(base)
    assert unified(base) == BASE_LINES
    assert unified(split)[17:] == [
        "[18] PTR '(anon)' type_id=3",
        "[19] PTR '(anon)' type_id=4",
        "[20] CONST '(anon)' type_id=6",
        "[21] RESTRICT '(anon)' type_id=7",
        "[22] VOLATILE '(anon)' type_id=8",
        "[23] TYPEDEF 'et' type_id=9",
        "[24] CONST '(anon)' type_id=10",
        "[25] PTR '(anon)' type_id=11",
        "[26] STRUCT 'with_embedded' size=4 vlen=1\n\t'f1' type_id=13 bits_offset=0",
        "[27] FUNC 'fn' type_id=14 linkage=static",
        "[28] TYPEDEF 'arraytype' type_id=15",
        "[29] FUNC_PROTO '(anon)' ret_type_id=1 vlen=1\n\t'p1' type_id=16",
    ]

    new_base, new_split = distill_base(split)
    assert new_base.type_count == 8
    assert new_split.base is new_base
    assert unified(new_split) == [
        "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
        "[2] STRUCT 's1' size=8 vlen=0",
        "[3] UNION 'u1' size=12 vlen=0",
        "[4] ENUM 'e1' encoding=UNSIGNED size=4 vlen=0",
        "[5] ENUM 'e641' encoding=UNSIGNED size=8 vlen=0",
        "[6] STRUCT 'embedded' size=4 vlen=0",
        "[7] STRUCT 'from_proto' size=4 vlen=0",
        # the split types, ids remapped
        "[8] PTR '(anon)' type_id=2",
        "[9] PTR '(anon)' type_id=20",
        "[10] CONST '(anon)' type_id=3",
        "[11] RESTRICT '(anon)' type_id=21",
        "[12] VOLATILE '(anon)' type_id=4",
        "[13] TYPEDEF 'et' type_id=22",
        "[14] CONST '(anon)' type_id=5",
        "[15] PTR '(anon)' type_id=23",
        "[16] STRUCT 'with_embedded' size=4 vlen=1\n\t'f1' type_id=6 bits_offset=0",
        "[17] FUNC 'fn' type_id=24 linkage=static",
        "[18] TYPEDEF 'arraytype' type_id=25",
        "[19] FUNC_PROTO '(anon)' ret_type_id=1 vlen=1\n\t'p1' type_id=7",
        # base types moved into the split BTF
        "[20] STRUCT '(anon)' size=12 vlen=2\n\t'f1' type_id=1 bits_offset=0\n"
        "\t'f2' type_id=2 bits_offset=32",
        "[21] UNION '(anon)' size=4 vlen=1\n\t'f1' type_id=1 bits_offset=0",
        "[22] ENUM '(anon)' encoding=UNSIGNED size=4 vlen=1\n\t'av1' val=2",
        "[23] ENUM64 '(anon)' encoding=SIGNED size=8 vlen=1\n\t'v1' val=1025LL",
        "[24] FUNC_PROTO '(anon)' ret_type_id=1 vlen=1\n\t'p1' type_id=1",
        "[25] ARRAY '(anon)' type_id=1 index_type_id=1 nr_elems=3",
    ]
    # strings laid out as libbpf does: base names in base-id order, then the split's new ones
    assert new_base.strings.data == b"\0int\0s1\0u1\0e1\0e641\0embedded\0from_proto\0"
    assert new_split.strings.data == b"et\0with_embedded\0f1\0fn\0arraytype\0p1\0f2\0av1\0v1\0"

    relocated = relocate(new_split, base)
    assert relocated.base is base and relocated.start_id == 18
    assert unified(relocated) == [*BASE_LINES,
        "[18] PTR '(anon)' type_id=3",
        "[19] PTR '(anon)' type_id=30",
        "[20] CONST '(anon)' type_id=6",
        "[21] RESTRICT '(anon)' type_id=31",
        "[22] VOLATILE '(anon)' type_id=8",
        "[23] TYPEDEF 'et' type_id=32",
        "[24] CONST '(anon)' type_id=10",
        "[25] PTR '(anon)' type_id=33",
        "[26] STRUCT 'with_embedded' size=4 vlen=1\n\t'f1' type_id=13 bits_offset=0",
        "[27] FUNC 'fn' type_id=34 linkage=static",
        "[28] TYPEDEF 'arraytype' type_id=35",
        "[29] FUNC_PROTO '(anon)' ret_type_id=1 vlen=1\n\t'p1' type_id=16",
        # (duplicate) anonymous base types the distill step added to the split BTF
        "[30] STRUCT '(anon)' size=12 vlen=2\n\t'f1' type_id=1 bits_offset=0\n"
        "\t'f2' type_id=3 bits_offset=32",
        "[31] UNION '(anon)' size=4 vlen=1\n\t'f1' type_id=1 bits_offset=0",
        "[32] ENUM '(anon)' encoding=UNSIGNED size=4 vlen=1\n\t'av1' val=2",
        "[33] ENUM64 '(anon)' encoding=SIGNED size=8 vlen=1\n\t'v1' val=1025LL",
        "[34] FUNC_PROTO '(anon)' ret_type_id=1 vlen=1\n\t'p1' type_id=1",
        "[35] ARRAY '(anon)' type_id=1 index_type_id=1 nr_elems=3",
    ]  # fmt: skip
    # the inputs are not modified
    assert unified(new_split)[7] == "[8] PTR '(anon)' type_id=2"


def _two_ints(second_size: int) -> Btf:
    b = Btf()
    b.add(Int(b.add_str("int"), 4, SIGNED, 0, 32))
    b.add(Int(b.add_str("int"), second_size, SIGNED, 0, second_size * 8))
    return b


def _ptr_and_const(base: Btf) -> Btf:
    sp = Btf(base)
    sp.add(Ptr(0, 1))
    sp.add(Const(0, 2))
    return sp


def test_distilled_base_multi() -> None:
    base = _two_ints(8)
    new_base, new_split = distill_base(_ptr_and_const(base))
    assert unified(new_base) == unified(base) == [
        "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
        "[2] INT 'int' size=8 bits_offset=0 nr_bits=64 encoding=SIGNED",
    ]
    assert unified(relocate(new_split, base)) == [
        *unified(base), "[3] PTR '(anon)' type_id=1", "[4] CONST '(anon)' type_id=2"]


def test_distilled_base_missing_err() -> None:
    _, new_split = distill_base(_ptr_and_const(_two_ints(8)))
    other = Btf()
    other.add(Int(other.add_str("int"), 4, SIGNED, 0, 32))
    with pytest.raises(RelocationError) as exc:
        relocate(new_split, other)
    assert [str(p) for p in exc.value.problems] == [
        "int 'int': size 8 in the module's base, 4 in vmlinux"]


def test_distilled_base_multi_err() -> None:
    """Two same-sized ints in the distilled base: both match base [1], then [2]."""
    base = _two_ints(4)
    new_base, new_split = distill_base(_ptr_and_const(base))
    assert new_base.type_count == 3
    with pytest.raises(RelocationError) as exc:
        relocate(new_split, base)
    assert len(exc.value.problems) == 2
    assert all("2 types of size 4 in vmlinux match it" in str(p) and "cannot choose" in str(p)
               for p in exc.value.problems)


def test_distilled_base_multi_err2() -> None:
    """Two same-sized ints in the new base for one distilled int."""
    base = Btf()
    base.add(Int(base.add_str("int"), 4, SIGNED, 0, 32))
    split = Btf(base)
    split.add(Ptr(0, 1))
    new_base, new_split = distill_base(split)
    assert new_base.type_count == 2
    with pytest.raises(RelocationError, match=r"int 'int': 2 types of size 4 .*\[1\].*\[2\]"):
        relocate(new_split, _two_ints(4))


def _myint_split(vmlinux: Btf) -> Btf:
    int_id = vmlinux.find("int", Kind.INT)
    assert int_id is not None
    split = Btf(vmlinux)
    myint = split.add(Typedef(split.add_str("myint"), int_id))
    split.add(Ptr(0, myint))
    return split


def test_distilled_base_vmlinux_like() -> None:
    _, new_split = distill_base(_myint_split(every_kind()))
    assert unified(new_split) == [
        "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
        "[2] TYPEDEF 'myint' type_id=1",
        "[3] PTR '(anon)' type_id=2",
    ]


def test_distilled_base_vmlinux(sysfs_vmlinux: Path) -> None:
    vmlinux = load(sysfs_vmlinux)
    _, new_split = distill_base(_myint_split(vmlinux))
    assert unified(new_split) == [
        "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
        "[2] TYPEDEF 'myint' type_id=1",
        "[3] PTR '(anon)' type_id=2",
    ]
    assert relocate(new_split, vmlinux).type(vmlinux.type_count) == Typedef(
        vmlinux.strings.end, vmlinux.find("int", Kind.INT) or 0)


@pytest.mark.parametrize("endian", ["little", "big"])
def test_distilled_endianness(endian: str) -> None:
    base = Btf(endian=endian)  # type: ignore[arg-type]
    base.add(Int(base.add_str("int"), 4, SIGNED, 0, 32))
    split = Btf(base)
    split.add(Ptr(0, 1))
    new_base, new_split = distill_base(split)
    assert new_base.type_count == 2
    assert new_base.endian == new_split.endian == endian
    base1 = parse(encode(new_base))
    split1 = parse(encode(new_split), base1)
    assert base1.endian == split1.endian == endian
    assert unified(split1) == [
        "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
        "[2] PTR '(anon)' type_id=1",
    ]


# -- more rules of btf__distill_base / btf_relocate ------------------------------------------


def _base_for_rules() -> Btf:
    b = Btf()
    s = b.add_str
    i32 = b.add(Int(s("int"), 4, SIGNED, 0, 32))                               # [1]
    b.add(Float(s("double"), 8))                                               # [2]
    b.add(Fwd(s("opaque"), False))                                             # [3]
    b.add(Struct(s("plain"), 8, [Member(s("x"), i32, 0)]))                     # [4]
    b.add(Struct(s("bits"), 4, [Member(s("b"), i32, 0, 3)], bitfield_encoding=True))  # [5]
    b.add(Enum64(s("wide"), 8, [EnumValue(s("W"), 1 << 40)]))                  # [6]
    b.add(Typedef(s("u32"), i32))                                              # [7]
    b.add(Func(s("kfunc"), b.add(FuncProto(0, i32, []))))                      # [8] [9]
    b.add(Var(s("jiffies"), i32))                                              # [10]
    return b


def test_distill_rules() -> None:
    base = _base_for_rules()
    split = Btf(base)
    s = split.add_str
    split.add(Struct(s("mod"), 40, [
        Member(s("a"), 2, 0),                                     # float
        Member(s("b"), split.add(Ptr(0, 3)), 64),                 # -> fwd  (ids 11.. shift)
        Member(s("c"), 4, 128),                                   # embedded named struct
        Member(s("d"), 6, 192),                                   # enum64
        Member(s("e"), split.add(Array(0, 7, 1, 2)), 256),        # array of typedef
    ]))
    new_base, new_split = distill_base(split)
    assert unified(new_base) == [
        "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
        "[2] FLOAT 'double' size=8",
        "[3] FWD 'opaque' fwd_kind=struct",
        "[4] STRUCT 'plain' size=8 vlen=0",      # members not followed
        "[5] ENUM 'wide' encoding=UNSIGNED size=8 vlen=0",  # an enum64 becomes a sized ENUM
    ]
    # 'bits', 'kfunc', 'jiffies' are not referenced: not distilled; typedef u32 moves to split
    assert unified(new_split)[5:] == [
        "[6] PTR '(anon)' type_id=3",
        "[7] ARRAY '(anon)' type_id=9 index_type_id=1 nr_elems=2",
        "[8] STRUCT 'mod' size=40 vlen=5\n\t'a' type_id=2 bits_offset=0\n"
        "\t'b' type_id=6 bits_offset=64\n\t'c' type_id=4 bits_offset=128\n"
        "\t'd' type_id=5 bits_offset=192\n\t'e' type_id=7 bits_offset=256",
        "[9] TYPEDEF 'u32' type_id=1",
    ]
    relocated = relocate(new_split, base)
    assert list(shapes(relocated, range(11, 14))) == list(shapes(split, range(11, 14)))
    assert unified(relocated)[10:] == [
        "[11] PTR '(anon)' type_id=3",
        "[12] ARRAY '(anon)' type_id=14 index_type_id=1 nr_elems=2",  # the typedef's copy
        "[13] STRUCT 'mod' size=40 vlen=5\n\t'a' type_id=2 bits_offset=0\n"
        "\t'b' type_id=11 bits_offset=64\n\t'c' type_id=4 bits_offset=128\n"
        "\t'd' type_id=6 bits_offset=192\n\t'e' type_id=12 bits_offset=256",
        "[14] TYPEDEF 'u32' type_id=1",
    ]


def test_distill_refuses_non_data_base_references() -> None:
    base = _base_for_rules()
    split = Btf(base)
    split.add(Ptr(0, 10))  # a pointer to a VAR of the base
    with pytest.raises(DistillError, match=r"refers to base type \[10\] variable 'jiffies'"):
        distill(split)
    with pytest.raises(DistillError, match="not split BTF"):
        distill(base)


def _embedding_module(base: Btf, member_type: int, *, via_ptr: bool = False) -> Btf:
    split = Btf(base)
    ref = split.add(Ptr(0, member_type)) if via_ptr else member_type
    arr = split.add(Array(0, split.add(Const(0, ref)), 1, 2))
    split.add(Struct(split.add_str("holder"), 64, [Member(split.add_str("m"), arr, 0)]))
    return split


def _resize(base: Btf, name: str, size: int) -> Btf:
    b = parse(encode(base))
    tid = b.find(name)
    assert tid is not None
    t = b.type(tid)
    assert isinstance(t, Composite | Enum | Enum64 | Int | Float)
    t.size = size
    return b


def test_embedded_struct_needs_the_same_size() -> None:
    base = _base_for_rules()
    _, embedding = distill_base(_embedding_module(base, 4))  # const struct plain [2]
    _, pointing = distill_base(_embedding_module(base, 4, via_ptr=True))
    grown = _resize(base, "plain", 16)
    with pytest.raises(RelocationError) as exc:
        relocate(embedding, grown)
    assert [str(p) for p in exc.value.problems] == [
        "struct plain: size 8 in the module's base, 16 in vmlinux; embedded in struct holder"]
    # through a pointer the size does not matter
    assert relocate(pointing, grown).type_count == grown.type_count + len(pointing)


def test_same_named_structs_are_told_apart_by_size() -> None:
    base = _base_for_rules()
    base.add(Struct(base.add_str("plain"), 24, []))  # a second 'plain' in the base
    split = Btf(base)
    split.add(Ptr(0, 4))
    split.add(Ptr(0, base.type_count - 1))
    new_base, new_split = distill_base(split)
    assert unified(new_base) == [
        "[1] STRUCT 'plain' size=8 vlen=0", "[2] STRUCT 'plain' size=24 vlen=0"]
    assert relocate(new_split, base).types[:2] == split.types
    # the new base has one 'plain' only: name alone decides, both map to it (no size check)
    single = _base_for_rules()
    assert [t.type_id for t in relocate(new_split, single).types[:2]] == [4, 4]  # type: ignore[attr-defined]
    # two of size 8 in the new base: ambiguous
    twice = _base_for_rules()
    twice.add(Struct(twice.add_str("plain"), 8, []))
    twice.add(Struct(twice.add_str("plain"), 24, []))
    with pytest.raises(RelocationError, match=r"struct plain: 2 types of size 8 in vmlinux"):
        relocate(new_split, twice)


def test_enum_matches_enum64_of_its_size() -> None:
    base = Btf()
    base.add(Enum(base.add_str("e"), 4, [EnumValue(base.add_str("A"), 1)]))
    split = Btf(base)
    split.add(Ptr(0, 1))
    _, new_split = distill_base(split)
    as64 = Btf()
    as64.add(Enum64(as64.add_str("e"), 4, [EnumValue(as64.add_str("A"), 1)]))
    assert relocate(new_split, as64).types == split.types
    wider = Btf()
    wider.add(Enum64(wider.add_str("e"), 8, [EnumValue(wider.add_str("A"), 1 << 33)]))
    with pytest.raises(RelocationError) as exc:
        relocate(new_split, wider)
    assert str(exc.value.problems[0]) == \
        "enum e: size 4 in the module's base, 8 in vmlinux (enum64)"


def test_int_float_fwd_rules_and_every_problem_reported() -> None:
    base = _base_for_rules()
    split = Btf(base)
    for tid in (1, 2, 3, 4):  # int, double, fwd opaque, struct plain
        split.add(Ptr(0, tid))
    _, new_split = distill_base(split)
    # the forward declaration matches a struct of that name (kind_flag clear)
    defined = _base_for_rules()
    defined.types[2] = Struct(defined.types[2].name_off, 16, [])
    assert relocate(new_split, defined).types == split.types

    bad = Btf()
    s = bad.add_str
    bad.add(Int(s("int"), 4, IntEncoding.NONE, 0, 32))          # encoding differs
    bad.add(Float(s("double"), 16))                              # size differs
    bad.add(Struct(s("opaque"), 4, [Member(s("b"), 1, 0, 1)], bitfield_encoding=True))
    bad.add(Typedef(s("plain"), 1))                              # not a struct
    with pytest.raises(RelocationError) as exc:
        relocate(new_split, bad, base_label="vmlinux-6.18")
    assert [str(p) for p in exc.value.problems] == [
        "int 'int': encoding SIGNED in the module's base, (none) in vmlinux-6.18",
        "float 'double': size 8 in the module's base, 16 in vmlinux-6.18",
        "struct opaque (forward declaration): vmlinux-6.18 defines struct opaque with kind_flag "
        "set (bitfield encoding), which the relocation rules of libbpf 1.5 / Linux 6.12 read as "
        "a union",
        "struct plain: not a struct or union in vmlinux-6.18 (there: typedef)",
    ]
    assert str(exc.value).startswith("cannot relocate onto vmlinux-6.18: 4 incompatible types:")
    with pytest.raises(RelocationError, match="struct plain: not found in vmlinux"):
        relocate(new_split, Btf())  # an empty base: nothing found


def test_relocate_refuses_what_is_not_distilled() -> None:
    base = _base_for_rules()
    split = Btf(base)
    split.add(Ptr(0, 1))
    with pytest.raises(RelocationError, match=r"not a distilled base: type \[6\] ENUM64 'wide'"):
        relocate(split, every_kind())
    with pytest.raises(RelocationError, match="no distilled base"):
        relocate(base, every_kind())
    anon = Btf()
    anon.add(Struct(0, 4, []))
    over = Btf(anon)
    over.add(Ptr(0, 1))
    with pytest.raises(RelocationError, match=r"type \[1\] STRUCT is anonymous"):
        relocate(over, every_kind())


def test_distilled_output_reads_back_byte_identical() -> None:
    new_base, new_split = distill_base(selftest_split(selftest_base()))
    base_raw, split_raw = encode(new_base), encode(new_split)
    base1 = parse(base_raw)
    split1 = parse(split_raw, base1)
    assert encode(base1) == base_raw and encode(split1) == split_raw
    assert unified(relocate(split1, selftest_base())) == \
        unified(relocate(new_split, selftest_base()))


# -- ELF editing and the command line on small files -----------------------------------------


@pytest.fixture()
def tiny_ko(tmp_path: Path) -> Path:
    """A relocatable x86-64 ELF object with nothing in it (objcopy of an empty binary)."""
    return empty_elf(tmp_path / "tiny.ko")


def _module_files(tmp_path: Path, tiny_ko: Path) -> tuple[Path, Path]:
    """tiny.ko holding the selftest's distilled split BTF and base; base.btf the full base."""
    new_base, new_split = distill_base(selftest_split(selftest_base()))
    replace_sections(tiny_ko, {".BTF": encode(new_split), ".BTF.base": encode(new_base)})
    base = tmp_path / "base.btf"
    base.write_bytes(encode(selftest_base()))
    return tiny_ko, base


def test_elf_sections_replaced_atomically(tmp_path: Path, tiny_ko: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ko, _ = _module_files(tmp_path, tiny_ko)
    secs = read_btf_sections(ko)
    assert secs.btf is not None and secs.base is not None
    before = ko.read_bytes()
    # a failure half-way (here: the disk fills while writing) leaves the file as it was
    import btfbuild.elfwrite as elfwrite

    def full_disk(fd: int, data: bytes, off: int) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(elfwrite.os, "pwrite", full_disk)
    with pytest.raises(ElfEditError, match="No space left on device"):
        replace_sections(ko, {".BTF": b"x"})
    monkeypatch.undo()
    assert ko.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers
    # sections change, other bytes stay, and rewriting again does not grow the file
    replace_sections(ko, {".BTF": b"new"})
    assert read_sections(ko)[".BTF"] == b"new"
    assert read_sections(ko)[".BTF.base"] == secs.base
    replace_sections(ko, {".BTF": b"new", ".BTF.base": secs.base})
    size = ko.stat().st_size
    replace_sections(ko, {".BTF": b"new", ".BTF.base": secs.base})
    assert ko.stat().st_size == size
    # a loaded section of a linked program cannot be replaced; its file stays as it was
    not_rel = tmp_path / "python"
    shutil.copy(sys.executable, not_rel)
    with pytest.raises(ElfEditError, match="loaded at run time"):
        replace_sections(not_rel, {".text": b"x"})
    with pytest.raises(ElfEditError, match="not a valid ELF"):
        replace_sections(tmp_path / "base.btf", {".BTF": b"x"})


def test_cli_relocate_dump_distill(tmp_path: Path, tiny_ko: Path) -> None:
    ko, base = _module_files(tmp_path, tiny_ko)
    expected = "\n".join(unified(relocate(distill_base(selftest_split(selftest_base()))[1],
                                          selftest_base()))[17:]) + "\n"
    dump = btfbuild("dump", ko, "-B", base)
    assert dump.returncode == 0 and dump.stdout == expected
    out = tmp_path / "relocated.btf"
    proc = btfbuild("relocate", ko, "-B", base, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "7 distilled base types matched, 18 types from id 18" in proc.stdout
    assert btfbuild("dump", out, "-B", base).stdout == expected
    # distill the relocated raw split BTF again: the same two sections come out
    proc = btfbuild("distill", out, "-B", base, "-o", tmp_path / "d")
    assert proc.returncode == 0, proc.stderr
    secs = read_btf_sections(ko)
    assert (tmp_path / "d" / "relocated.BTF.base").read_bytes() == secs.base
    # moved types are appended again after the (already moved) ones: the split differs, the
    # base is the same
    again = parse((tmp_path / "d" / "relocated.BTF").read_bytes(), parse(secs.base or b""))
    assert len(again) == 18


def test_cli_relocation_failure_names_each_type(tmp_path: Path, tiny_ko: Path) -> None:
    ko, _ = _module_files(tmp_path, tiny_ko)
    other = tmp_path / "other.btf"
    b = Btf()
    b.add(Int(b.add_str("int"), 8, SIGNED, 0, 64))
    b.add(Struct(b.add_str("embedded"), 8, []))
    other.write_bytes(encode(b))
    proc = btfbuild("relocate", ko, "-B", other)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == f"btfbuild: {ko}: cannot relocate onto {other}: 7 incompatible types"
    assert "  int 'int': size 4 in the module's base, 8 in other.btf" in lines
    assert ("  struct embedded: size 4 in the module's base, 8 in other.btf; "
            "embedded in struct with_embedded") in lines
    assert "  enum e641: not found in other.btf" in lines
    check = btfbuild("check-module", ko, "--vmlinux", other, tmp_path / "base.btf")
    assert check.returncode == 1
    assert "FAIL" in check.stdout and "OK" in check.stdout
    assert "1 of 2 module/kernel pairs relocate" in check.stdout
    assert btfbuild("check-module", ko, "--vmlinux", tmp_path / "base.btf").returncode == 0


def test_bad_input_is_one_line(tmp_path: Path, tiny_ko: Path) -> None:
    ko, base = _module_files(tmp_path, tiny_ko)
    good = read_sections(ko)
    # a .BTF.base that names nothing: the split BTF refers to ids it does not have
    replace_sections(ko, {".BTF.base": encode(Btf())})
    for args in (("dump", ko, "-B", base), ("relocate", ko, "-B", base), ("dump", ko)):
        assert_one_line_error(btfbuild(*args), str(ko), "type [2] PTR: invalid type id 20")
    # a .BTF.base holding a type a distilled base cannot have (same strings, same count)
    bad = parse(good[".BTF.base"])
    bad.types[0] = Ptr(0, 0)
    replace_sections(ko, {".BTF.base": encode(bad)})
    assert_one_line_error(btfbuild("relocate", ko, "-B", base),
                          "not a distilled base: type [1] PTR")
    # a .BTF.base that is not BTF at all
    replace_sections(ko, {".BTF.base": b"garbage!"})
    assert_one_line_error(btfbuild("relocate", ko, "-B", base), ".BTF.base", "bad magic")
    replace_sections(ko, good)
    # split BTF whose ids run past its base
    small = Btf()
    small.add(Int(small.add_str("int"), 4, SIGNED, 0, 32))
    split = Btf(small)
    split.add(Ptr(0, 7))
    (tmp_path / "small.btf").write_bytes(encode(small))
    (tmp_path / "split.btf").write_bytes(encode(split))
    assert_one_line_error(
        btfbuild("distill", tmp_path / "split.btf", "-B", tmp_path / "small.btf", "-o", tmp_path),
        "type [2] PTR: invalid type id 7")
    # a missing base
    missing = tmp_path / "missing"
    assert_one_line_error(btfbuild("relocate", ko, "-B", missing), f"{missing}: No such file")
    assert_one_line_error(btfbuild("dump", ko, "-B", missing), f"{missing}: No such file")
    assert_one_line_error(btfbuild("distill", tmp_path / "split.btf", "-B", missing,
                                   "-o", tmp_path), f"{missing}: No such file")
    assert_one_line_error(btfbuild("check-module", ko, "--vmlinux", missing),
                          f"{missing}: No such file")
    # nothing to relocate: no .BTF.base, or not a module at all
    plain = tmp_path / "plain.ko"
    subprocess.run(["objcopy", "--remove-section", ".BTF.base", str(ko), str(plain)], check=True)
    assert_one_line_error(btfbuild("relocate", plain, "-B", base), "no .BTF.base section")
    assert_one_line_error(btfbuild("relocate", tmp_path / "small.btf", "-B", base),
                          "not an ELF module")


# -- real kernels -------------------------------------------------------------------------------

# (ours, pahole 1.30): pahole re-encodes from DWARF and, for e1000e, keeps three functions
# Debian's pahole 1.24 dropped (dma_map_single_attrs needs enum dma_data_direction)
DISTILLED_COUNTS = {"fou": (20, 20), "e1000e": (55, 56), "ext4": (91, 91), "btrfs": (100, 100),
                    "nf_conntrack": (80, 80)}


def kbuild_pahole_flags(kernel_source: Path) -> list[str]:
    """What scripts/Makefile.btf of Linux 6.12 passes to pahole >= 1.26 for an external module
    (``-j``, the feature list, ``distilled_base``, ``--lang_exclude=rust``)."""
    mk = (kernel_source / "scripts" / "Makefile.btf").read_text()
    features = re.search(r"--btf_features=(encode_force[\w,]+)", mk)
    assert features is not None and "--btf_features=distilled_base" in mk
    return ["-J", "-j", f"--btf_features={features[1]}", "--btf_features=distilled_base",
            "--lang_exclude=rust"]


@pytest.fixture(scope="module")
def vmlinux61_btf(vmlinux61: Path) -> Btf:
    return load(vmlinux61)


@pytest.fixture(scope="module")
def pahole_modules(tmp_path_factory: pytest.TempPathFactory, linux61: Path, pahole130: Path,
                   kernel_source: Path) -> dict[str, Path]:
    """Copies of the Debian modules with .BTF/.BTF.base written by pahole 1.30 as kbuild runs it."""
    d = tmp_path_factory.mktemp("pahole")
    out = {}
    for name in MODULES:
        ko = d / f"{name}.ko"
        shutil.copy(linux61 / "modules" / f"{name}.ko", ko)
        subprocess.run([str(pahole130), *kbuild_pahole_flags(kernel_source),
                        "--btf_base", str(linux61 / "vmlinux"), str(ko)],
                       check=True, capture_output=True)
        out[name] = ko
    return out


def _distilled_key(btf: Btf) -> set[tuple[str, str, int]]:
    return {(t.kind.name, btf.name(t), getattr(t, "size", 0)) for _, t in btf}


_MOVED = (Array, Typedef, Ptr, Const, Volatile, Restrict, FuncProto)
_REF = re.compile(r"(type_id|ret_type_id|index_type_id)=(\d+)")


def shapes(btf: Btf, ids: range) -> Iterator[str]:
    """Each type as raw text where references to types that distilling may move (anonymous
    composites and enums, arrays, typedefs, pointers, qualifiers, prototypes) are expanded
    recursively and others stay by id: equal shapes mean the same types by structure."""
    memo: dict[int, str] = {}

    def expand(tid: int) -> str:
        if tid not in memo:
            memo[tid] = "…"  # cycles go through named types, which are not expanded
            text = next(raw_lines(btf, [tid])).split(" ", 1)[1]
            memo[tid] = "{" + _REF.sub(lambda m: f"{m[1]}={ref(int(m[2]))}", text) + "}"
        return memo[tid]

    def ref(tid: int) -> str:
        t = btf.type(tid)
        moved = isinstance(t, _MOVED) or (isinstance(t, Composite | Enum | Enum64)
                                          and not t.name_off)
        return expand(tid) if tid and moved else str(tid)

    for tid in ids:
        yield expand(tid)


@pytest.mark.realkernel
@pytest.mark.parametrize("name", MODULES)
def test_debian_module_distill_matches_pahole(name: str, linux61: Path, vmlinux61_btf: Btf,
                                              pahole_modules: dict[str, Path]) -> None:
    split = load(linux61 / "modules" / f"{name}.ko", vmlinux61_btf)
    ours = distill(split)
    secs = read_btf_sections(pahole_modules[name])
    assert secs.base is not None and secs.btf is not None
    theirs = parse(secs.base)
    assert (len(ours.base), len(theirs)) == DISTILLED_COUNTS[name]
    assert _distilled_key(ours.base) <= _distilled_key(theirs)
    print(f"{name}: distilled base types: ours {len(ours.base)}, pahole 1.30 {len(theirs)}")

    # the same algorithm on the same input: pahole's module relocated, distilled again, gives
    # back pahole's sections byte for byte
    pahole_split = load(pahole_modules[name], vmlinux61_btf)
    again_base, again_split = distill_base(pahole_split)
    assert encode(again_base) == secs.base
    assert encode(again_split) == secs.btf


@pytest.mark.realkernel
@pytest.mark.parametrize("name", MODULES)
def test_debian_module_round_trip(name: str, linux61: Path, vmlinux61_btf: Btf) -> None:
    split = load(linux61 / "modules" / f"{name}.ko", vmlinux61_btf)
    new_base, new_split = distill_base(split)
    # through the bytes, as a module carries them
    dist = parse(encode(new_base))
    relocated = relocate(parse(encode(new_split), dist), vmlinux61_btf)
    assert relocated.start_id == split.start_id
    n = len(split)
    assert list(shapes(relocated, range(split.start_id, split.start_id + n))) == \
        list(shapes(split, range(split.start_id, split.start_id + n)))
    # what follows the module's own types is base types distilling moved, nothing else
    extra = relocated.types[n:]
    assert len(extra) == len(new_split) - n
    assert all(isinstance(t, _MOVED) or not t.name_off for t in extra)


@pytest.mark.realkernel
def test_relocating_onto_another_kernel_names_the_types(linux61: Path, vmlinux61_btf: Btf,
                                                        sysfs_vmlinux: Path, bpftool75: Path,
                                                        pahole_modules: dict[str, Path]) -> None:
    running = load(sysfs_vmlinux)
    for name in MODULES:
        _, new_split = distill_base(load(linux61 / "modules" / f"{name}.ko", vmlinux61_btf))
        try:
            relocate(new_split, running)
        except RelocationError as exc:
            problems = exc.problems
        else:
            continue
        assert problems
        for p in problems:
            t = new_split.type(p.type_id)
            assert new_split.name(t) in p.what and p.reason
        # bpftool (libbpf) stops at the first type it cannot map: we name it too
        pahole_ko = pahole_modules[name]
        proc = subprocess.run([str(bpftool75), "-d", "-B", str(sysfs_vmlinux), "btf", "dump",
                               "file", str(pahole_ko)], capture_output=True, text=True,
                              check=False)
        ours = btfbuild("relocate", pahole_ko, "-B", sysfs_vmlinux)
        m = re.search(r"distilled base BTF type '([^']+)' \[\d+\] is not mapped", proc.stderr)
        if proc.returncode == 0:
            assert ours.returncode == 0
        else:
            assert m is not None and ours.returncode == 1
            assert re.search(rf"^  \S+ '?{re.escape(m[1])}'?[: ]", ours.stderr, re.M), ours.stderr
    btrfs = btfbuild("relocate", pahole_modules["btrfs"], "-B", sysfs_vmlinux)
    print(btrfs.stderr)


@pytest.mark.realkernel
@pytest.mark.parametrize("name", MODULES)
def test_bpftool_reads_distilled_modules_as_we_do(name: str, vmlinux61: Path, bpftool75: Path,
                                                  pahole_modules: dict[str, Path],
                                                  linux61: Path, tmp_path: Path) -> None:
    def both(ko: Path, base: Path | None = None) -> None:
        with_base: list[str | Path] = ["-B", base] if base else []
        ours = btfbuild("dump", ko, *with_base)
        assert ours.returncode == 0, ours.stderr
        theirs = subprocess.run([str(bpftool75), *map(str, with_base), "btf", "dump", "file",
                                 str(ko)], capture_output=True, text=True, check=True)
        assert ours.stdout == theirs.stdout

    both(pahole_modules[name], vmlinux61)  # relocated onto vmlinux
    both(pahole_modules[name])  # over its own .BTF.base
    ko = tmp_path / f"{name}.ko"
    shutil.copy(linux61 / "modules" / f"{name}.ko", ko)
    proc = btfbuild("distill", ko, "-B", vmlinux61, "--in-place")
    assert proc.returncode == 0, proc.stderr
    both(ko, vmlinux61)
    both(ko)


@pytest.mark.realkernel
def test_in_place_distill_keeps_btf_ids(linux61: Path, vmlinux61_btf: Btf,
                                        tmp_path: Path) -> None:
    orig = linux61 / "modules" / "nf_conntrack.ko"
    ko = tmp_path / "nf_conntrack.ko"
    shutil.copy(orig, ko)
    before = read_btf_ids(orig)
    assert before is not None and before.slots
    proc = btfbuild("distill", ko, "-B", linux61 / "vmlinux", "--in-place")
    assert proc.returncode == 0, proc.stderr
    after = read_btf_ids(ko)
    assert after is not None
    old_btf = load(orig, vmlinux61_btf)
    new_btf = load(ko)  # over its new .BTF.base

    def named(btf: Btf, layout: list[int]) -> list[tuple[str, str]]:
        return [(btf.type(i).kind.name, btf.name(i)) if i else ("", "") for i in layout]

    def ids(layout: bytes) -> list[int]:
        return [int.from_bytes(layout[o : o + 4], "little") for o, _ in before.slots]

    assert sorted(named(new_btf, ids(after.data))) == sorted(named(old_btf, ids(before.data)))
    for off, is_set8 in after.sets:
        cnt = int.from_bytes(after.data[off : off + 4], "little")
        step, start = (8, off + 8) if is_set8 else (4, off + 4)
        members = [int.from_bytes(after.data[i : i + 4], "little")
                   for i in range(start, start + cnt * step, step)]
        assert members == sorted(members)
    assert btfbuild("distill", ko, "-B", linux61 / "vmlinux", "--in-place").returncode == 1


@pytest.mark.realkernel
def test_relocating_btrfs_takes_under_a_second(vmlinux61: Path,
                                               pahole_modules: dict[str, Path],
                                               tmp_path: Path) -> None:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        proc = btfbuild("relocate", pahole_modules["btrfs"], "-B", vmlinux61,
                        "-o", tmp_path / "btrfs.btf")
        best = min(best, time.perf_counter() - start)
        assert proc.returncode == 0, proc.stderr
    print(f"btfbuild relocate btrfs.ko -B vmlinux: {best:.2f} s")
    assert best <= 1.0


@pytest.mark.realkernel
def test_check_module_table(vmlinux61: Path, sysfs_vmlinux: Path,
                            pahole_modules: dict[str, Path], linux61: Path) -> None:
    mods = [pahole_modules["fou"], pahole_modules["btrfs"]]
    ok = btfbuild("check-module", *mods, "--vmlinux", vmlinux61)
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.count("OK") == 2
    mixed = btfbuild("check-module", *mods, linux61 / "modules" / "fou.ko",
                     "--vmlinux", vmlinux61, sysfs_vmlinux)
    assert mixed.returncode == 1
    assert "NOT DISTILLED" in mixed.stdout
