"""resolve_btfids: ours against the kernel's own tool and against Debian's shipped kernel.

Test objects are compiled here with gcc from C using ``tests/data/btf_ids_test.h`` (the layout of
the kernel's ``btf_ids.h``); their BTF comes from ``pahole -J`` or from the BTF model. Where the
kernel source is cached, the kernel's resolve_btfids is built from it (into the cache, not the
repository) and every run is compared with it: exit status, stderr, and the whole output file.
The real-kernel tier rebuilds the pre-resolve state of the ``.BTF_ids`` that Debian shipped in
6.1's vmlinux and nf_conntrack.ko and requires ours to give the shipped bytes back.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from btfbuild.btf import Btf, Kind, encode, load
from btfbuild.btf.types import (
    Func,
    FuncLinkage,
    FuncProto,
    Int,
    IntEncoding,
    Member,
    Param,
    Ptr,
    Struct,
    Typedef,
    Union,
)
from btfbuild.btfids import ModelNames, RawNames, list_slots, patch, resolve_file
from btfbuild.cli import main as cli_main
from btfbuild.fronts.resolve_btfids import main as ours_main
from tests.btfgen import every_kind
from tests.conftest import cache_dir

DATA = Path(__file__).parent / "data"
KERNEL_SRC = "linux-source-6.12"
TOOL_DIR = "resolve_btfids-6.12"

Run = tuple[int, str]  # exit status, stderr


# -- fixtures: compilers, pahole, the kernel's tool --------------------------------------------


def _need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("BTFBUILD_REQUIRE_REALDATA") == "1":
            pytest.fail(f"{name} not installed")
        pytest.skip(f"{name} not installed")
    return path


@pytest.fixture(scope="session")
def gcc() -> str:
    return _need_tool("gcc")


@pytest.fixture(scope="session")
def pahole() -> str:
    """Debian's pahole 1.24 (any pahole -J works for these objects)."""
    return _need_tool("pahole")


@pytest.fixture(scope="session")
def kernel_tool() -> Path | None:
    """The kernel's resolve_btfids (6.12), built once into the cache; None when the kernel source
    is not cached (then runs are checked on their own, without the comparison)."""
    src = cache_dir() / KERNEL_SRC / "tools" / "bpf" / "resolve_btfids"
    out = cache_dir() / TOOL_DIR
    binary = out / "resolve_btfids"
    if binary.exists() and binary.stat().st_mtime >= (src / "main.c").stat().st_mtime:
        return binary
    if not (src / "main.c").exists():
        if os.environ.get("BTFBUILD_REQUIRE_REALDATA") == "1":
            pytest.fail(f"kernel source missing at {src}: run scripts/fetch-testdata")
        return None
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["make", "-C", str(src), f"OUTPUT={out}/"], capture_output=True,
                          text=True)
    if proc.returncode != 0 or not binary.exists():
        last = proc.stderr.strip().splitlines()[-1:] or [""]
        msg = f"building the kernel's resolve_btfids failed (libelf-dev missing?): {last[0]}"
        if os.environ.get("BTFBUILD_REQUIRE_REALDATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return binary


# -- helpers ------------------------------------------------------------------------------------


def compile_c(gcc: str, src: str, out: Path, *, debug: bool = True, shared: bool = False) -> Path:
    """An object file (or, *shared*, a linked shared object) from C source."""
    c = out.with_suffix(".c")
    c.write_text(src)
    cmd = [gcc, "-O0", *(["-shared", "-fPIC", "-nostdlib"] if shared else ["-c"]),
           "-I", str(DATA), str(c), "-o", str(out)]
    if debug:
        cmd.insert(1, "-g")
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def add_btf(pahole: str, obj: Path) -> Path:
    subprocess.run([pahole, "-J", str(obj)], check=True, capture_output=True)
    return obj


def section_of(path: Path, name: str = ".BTF_ids") -> tuple[bytes, int]:
    """Contents and address of a section."""
    with path.open("rb") as f:
        sec = ELFFile(f).get_section_by_name(name)
        assert sec is not None, f"{path} has no {name}"
        return sec.data(), sec["sh_addr"]


def symbols_of(path: Path) -> dict[str, int]:
    """__BTF_ID__ symbol -> offset in .BTF_ids (pyelftools, independent of ours)."""
    with path.open("rb") as f:
        elf = ELFFile(f)
        idx = next(i for i, s in enumerate(elf.iter_sections()) if s.name == ".BTF_ids")
        addr = elf.get_section(idx)["sh_addr"]
        symtab = elf.get_section_by_name(".symtab")
        assert isinstance(symtab, SymbolTableSection)
        return {s.name: s["st_value"] - addr for s in symtab.iter_symbols()
                if s["st_shndx"] == idx and s.name.startswith("__BTF_ID__")}


def u32s(data: bytes, off: int, n: int, e: str = "<") -> list[int]:
    return list(struct.unpack_from(f"{e}{n}I", data, off))


def run_ours(args: list[str], capsys: pytest.CaptureFixture[str]) -> Run:
    capsys.readouterr()
    rc = ours_main(args)
    err = capsys.readouterr().err
    return rc, err


def run_kernel(tool: Path, args: list[str], cwd: Path) -> Run:
    proc = subprocess.run([str(tool), *args], cwd=cwd, capture_output=True, text=True)
    # libbpf's own warnings have no counterpart in ours (we say it in one line)
    err = "".join(line + "\n" for line in proc.stderr.splitlines()
                  if not line.startswith("libbpf: "))
    return proc.returncode & 0xFF, err


Compare = Callable[..., tuple[Run, Path]]


@pytest.fixture
def compare(tmp_path: Path, kernel_tool: Path | None,
            capsys: pytest.CaptureFixture[str]) -> Compare:
    """Run ours on a copy of *obj* (and the kernel's on another copy, when built) with the same
    relative file name; assert the same status, stderr and resulting bytes. Returns ours."""
    counter = [0]

    def run(obj: Path, *args: str, same_stderr: bool = True, same_bytes: bool = True,
            kernel_crashes: bool = False, files: tuple[Path, ...] = ()) -> tuple[Run, Path]:
        counter[0] += 1
        dirs = {who: tmp_path / f"{who}{counter[0]}" for who in ("ours", "kernel")}
        for d in dirs.values():
            d.mkdir()
            shutil.copy(obj, d / obj.name)
            for extra in files:
                shutil.copy(extra, d / extra.name)
        argv = [*args, obj.name]
        cwd = os.getcwd()
        os.chdir(dirs["ours"])
        try:
            ours = run_ours(argv, capsys)
        finally:
            os.chdir(cwd)
        if kernel_tool is not None:
            theirs = run_kernel(kernel_tool, argv, dirs["kernel"])
            if kernel_crashes:  # undefined behaviour there: only make sure it is not a success
                assert theirs[0] != 0
                return ours, dirs["ours"] / obj.name
            assert ours[0] == theirs[0], (ours, theirs)
            if same_stderr:
                assert ours[1] == theirs[1]
            if same_bytes:
                assert (dirs["ours"] / obj.name).read_bytes() == \
                    (dirs["kernel"] / obj.name).read_bytes()
        return ours, dirs["ours"] / obj.name

    return run


# -- test objects -------------------------------------------------------------------------------

TYPES_C = """
#include "btf_ids_test.h"
struct task { int pid; };
struct file { long pos; };
union u1 { int a; long b; };
typedef struct task task_t;
struct dup { int x; };
int do_a(struct task *t) { return t->pid; }
int do_b(struct file *f) { return (int)f->pos; }
int do_c(union u1 *u) { return u->a; }
long do_d(task_t *t, struct dup *d) { return t->pid + d->x; }
long other_dup(void) { struct dup { long y; char z; } d = { 1, 2 }; return d.y + d.z; }
"""

FORMS_C = TYPES_C + """
BTF_ID_LIST(list1)
BTF_ID(struct, task)
BTF_ID_UNUSED
BTF_ID(union, u1)
BTF_ID(typedef, task_t)
BTF_ID(func, do_b)
BTF_ID(struct, missing)
BTF_ID(func, do_a)
BTF_ID(struct, dup)

BTF_ID_LIST_SINGLE(single, struct, dup)

BTF_SET_START(set1)
BTF_ID(func, do_d)
BTF_ID(func, do_c)
BTF_ID(func, do_a)
BTF_ID(func, nope)
BTF_ID(func, do_b)
BTF_SET_END(set1)

BTF_SET8_START(set8a)
BTF_ID_FLAGS(func, do_d, 1)
BTF_ID_FLAGS(func, do_c, 2)
BTF_ID_FLAGS(func, do_a)
BTF_ID_FLAGS(func, gone, 0x40)
BTF_ID_FLAGS(func, do_b, (1 << 3) | 4)
BTF_ID_FLAGS(func, absent, 0x80)
BTF_SET8_END(set8a)

BTF_KFUNCS_START(kf)
BTF_ID_FLAGS(func, do_c, 7)
BTF_ID_FLAGS(func, do_a, 9)
BTF_KFUNCS_END(kf)

BTF_SET_START(empty)
BTF_SET_END(empty)
BTF_SET8_START(empty8)
BTF_SET8_END(empty8)

int use(void) { return list1[0] + single[0] + set1.cnt + set8a.cnt + kf.cnt + empty.cnt
                       + empty8.cnt; }
"""


def first_ids(btf: Btf) -> dict[tuple[Kind, str], int]:
    ids: dict[tuple[Kind, str], int] = {}
    for tid, t in btf.all_types():
        ids.setdefault((t.kind, btf.name(t)), tid)
    return ids


@pytest.fixture
def forms_obj(tmp_path: Path, gcc: str, pahole: str) -> Path:
    return add_btf(pahole, compile_c(gcc, FORMS_C, tmp_path / "forms.o"))


def check_forms(path: Path, btf: Btf) -> None:
    """The resolved .BTF_ids of FORMS_C, checked against the BTF by hand."""
    ids = first_ids(btf)
    task, file_ = ids[Kind.STRUCT, "task"], ids[Kind.STRUCT, "file"]
    u1, task_t, dup = ids[Kind.UNION, "u1"], ids[Kind.TYPEDEF, "task_t"], ids[Kind.STRUCT, "dup"]
    fa, fb, fc, fd = (ids[Kind.FUNC, n] for n in ("do_a", "do_b", "do_c", "do_d"))
    assert file_ and len({task, u1, task_t, dup, fa, fb, fc, fd}) == 8
    data, _ = section_of(path)
    sym = symbols_of(path)
    # list1 opens the section: 8 slots (one BTF_ID_UNUSED), then 'single'
    assert u32s(data, 0, 9) == [task, 0, u1, task_t, fb, 0, fa, dup, dup]
    s1 = sym["__BTF_ID__set__set1"]
    assert u32s(data, s1, 6) == [5, *sorted([fd, fc, fa, 0, fb])]
    s8 = sym["__BTF_ID__set8__set8a"]
    pairs = sorted([(fd, 1), (fc, 2), (fa, 0), (0, 0x40), (fb, 12), (0, 0x80)],
                   key=lambda p: p[0])  # stable: the two unresolved keep their order
    assert u32s(data, s8, 2) == [6, 0]
    assert [tuple(u32s(data, s8 + 8 + 8 * i, 2)) for i in range(6)] == pairs
    kf = sym["__BTF_ID__set8__kf"]
    assert u32s(data, kf, 2 + 4) == [2, 1, *[x for p in sorted([(fc, 7), (fa, 9)]) for x in p]]
    assert u32s(data, sym["__BTF_ID__set__empty"], 1) == [0]
    assert u32s(data, sym["__BTF_ID__set8__empty8"], 2) == [0, 0]


# -- (a) every form, against the kernel's tool -------------------------------------------------


@pytest.mark.parametrize("verbose", [[], ["-v"], ["-vv"]])
def test_every_form(forms_obj: Path, compare: Compare, verbose: list[str]) -> None:
    (rc, err), out = compare(forms_obj, *verbose)
    assert rc == 0
    lines = err.splitlines()
    warns = [ln for ln in lines if ln.startswith("WARN")]
    # unresolved names warn once each, in the kernel's order (kind by kind, names descending);
    # "dup" has two structs: two slots keep the search going, so the second one warns
    dup = first_ids(load(out))[Kind.STRUCT, "dup"]
    assert warns[0].startswith(f"WARN: multiple IDs found for 'dup': {dup}, ")
    assert warns[1:] == [
        "WARN: resolve_btfids: unresolved symbol missing",
        "WARN: resolve_btfids: unresolved symbol nope",
        "WARN: resolve_btfids: unresolved symbol gone",
        "WARN: resolve_btfids: unresolved symbol absent",
    ]
    if verbose:
        assert "adding symbol set8a" in lines
        assert lines[-1] == "update ok for forms.o"
    else:
        assert len(lines) == len(warns)
    check_forms(out, load(out))
    # the file changed in .BTF_ids only
    before, after = forms_obj.read_bytes(), out.read_bytes()
    with forms_obj.open("rb") as f:
        sec = ELFFile(f).get_section_by_name(".BTF_ids")
        assert sec is not None
        off, size = sec["sh_offset"], sec["sh_size"]
    assert before[:off] == after[:off] and before[off + size:] == after[off + size:]


def test_linked_object_with_section_address(tmp_path: Path, gcc: str, pahole: str,
                                            compare: Compare) -> None:
    """A linked file (like vmlinux) has .BTF_ids at a non-zero address; symbols are addresses."""
    obj = compile_c(gcc, FORMS_C, tmp_path / "forms.so", shared=True)
    add_btf(pahole, obj)
    assert section_of(obj)[1] != 0
    (rc, _), out = compare(obj)
    assert rc == 0
    check_forms(out, load(out))


def test_resolving_twice_is_stable_for_plain_sets(forms_obj: Path, capsys: pytest.CaptureFixture[
        str], tmp_path: Path) -> None:
    """Slots and BTF_SETs come out the same when run again (set8 pairs move with the sort, so
    there the second run re-pairs flags, exactly like the kernel tool)."""
    obj = tmp_path / "twice.o"
    shutil.copy(forms_obj, obj)
    assert run_ours([str(obj)], capsys)[0] == 0
    first = section_of(obj)[0]
    assert run_ours([str(obj)], capsys)[0] == 0
    sym = symbols_of(obj)
    s1 = sym["__BTF_ID__set__set1"]
    assert section_of(obj)[0][: s1 + 24] == first[: s1 + 24]


# -- BTF from the model, --btf, split BTF, .BTF.base --------------------------------------------


def model_btf() -> tuple[Btf, dict[str, int]]:
    b = Btf()
    s = b.add_str
    i32 = b.add(Int(s("int"), 4, IntEncoding.SIGNED, 0, 32))
    ids = {"int": i32}
    ids["task"] = b.add(Struct(s("task"), 4, [Member(s("pid"), i32, 0)]))
    ids["func task"] = b.add(Func(s("task"), b.add(FuncProto(0, i32, [])), FuncLinkage.GLOBAL))
    ids["file"] = b.add(Struct(s("file"), 8, [Member(s("pos"), i32, 0)]))
    ids["u1"] = b.add(Union(s("u1"), 4, [Member(s("a"), i32, 0)]))
    ids["task_t"] = b.add(Typedef(s("task_t"), ids["task"]))
    ids["dup"] = b.add(Struct(s("dup"), 4, [Member(s("x"), i32, 0)]))
    proto = b.add(FuncProto(0, i32, [Param(s("t"), b.add(Ptr(0, ids["task"])))]))
    for name in ("do_d", "do_c", "do_b", "do_a"):  # ids descending by name, to test sorting
        ids[name] = b.add(Func(s(name), proto, FuncLinkage.GLOBAL))
    ids["dup2"] = b.add(Struct(s("dup"), 8, [Member(s("y"), i32, 0)]))
    return b, ids


def test_btf_option_with_model_btf(tmp_path: Path, gcc: str, compare: Compare) -> None:
    """No .BTF in the object: ids come from --btf (raw BTF written by our model)."""
    obj = compile_c(gcc, FORMS_C, tmp_path / "plain.o", debug=False)
    btf, ids = model_btf()
    raw = tmp_path / "model.btf"
    raw.write_bytes(encode(btf))
    (rc, err), out = compare(obj, "--btf", raw.name, files=(raw,))
    assert rc == 0
    assert f"WARN: multiple IDs found for 'dup': {ids['dup']}, {ids['dup2']} - using {ids['dup']}" \
        in err
    check_forms(out, btf)


def test_model_names_equal_raw_names() -> None:
    """The two name sources agree on every name of every kind, in both byte orders, split too."""
    base = every_kind()
    split = Btf(base)
    s = split.add_str
    i32 = base.find("int", Kind.INT)
    assert i32 is not None
    split.add(Struct(s("packet"), 4, [Member(s("z"), i32, 0)]))  # a second 'packet'
    split.add(Typedef(s("packet_t"), i32))
    split.add(Struct(s("fresh"), 4, []))
    wanted: dict[int, list[bytes]] = defaultdict(list)
    for _, t in split.all_types():
        if t.kind in (Kind.STRUCT, Kind.UNION, Kind.TYPEDEF, Kind.FUNC):
            wanted[int(t.kind)].append(split.name(t).encode())
    wanted[int(Kind.FUNC)].append(b"not_there")
    for endian in ("little", "big"):
        assert endian == "little" or endian == "big"
        raw_base = RawNames(encode(base, endian))
        raw_split = RawNames(encode(split, endian), raw_base)
        assert raw_split.type_count == split.type_count
        assert raw_split.lookup(wanted) == ModelNames(split).lookup(wanted)
        assert raw_split.lookup(wanted)[int(Kind.STRUCT)][b"packet"] == [
            base.find("packet", Kind.STRUCT), split.start_id]
    # many names take the other path through the string table
    many = {int(Kind.FUNC): [f"f{i}".encode() for i in range(100)] + [b"handle"]}
    assert RawNames(encode(base)).lookup(many) == ModelNames(base).lookup(many)


def test_split_btf_over_base(tmp_path: Path, gcc: str, compare: Compare) -> None:
    """--btf split BTF with -b base: base ids first, split ids after them."""
    base, ids = model_btf()
    split = Btf(base)
    s = split.add_str
    u1_split = split.add(Union(s("u1"), 8, [Member(s("b"), ids["int"], 0)]))  # after the base's
    fresh = split.add(Struct(s("missing"), 4, []))  # resolves the name missing from the base
    obj = compile_c(gcc, FORMS_C, tmp_path / "mod.o", debug=False)
    (tmp_path / "base.btf").write_bytes(encode(base))
    (tmp_path / "split.btf").write_bytes(encode(split))
    files = (tmp_path / "base.btf", tmp_path / "split.btf")
    (rc, err), out = compare(obj, "--btf", "split.btf", "-b", "base.btf", files=files)
    assert rc == 0
    assert "unresolved symbol missing" not in err
    assert f"multiple IDs found for 'u1': {ids['u1']}, {u1_split}" not in err  # one slot: done
    data = section_of(out)[0]
    assert u32s(data, 0, 8) == [ids["task"], 0, ids["u1"], ids["task_t"], ids["do_b"], fresh,
                                ids["do_a"], ids["dup"]]


def test_btf_base_section_wins_over_b(tmp_path: Path, gcc: str, compare: Compare) -> None:
    """A module with .BTF.base is resolved over that distilled base; -b is ignored."""
    distilled, ids = model_btf()
    split = Btf(distilled)
    extra = split.add(Struct(split.add_str("missing"), 4, []))
    obj = compile_c(gcc, FORMS_C, tmp_path / "mod.ko", debug=False)
    (tmp_path / "split.btf").write_bytes(encode(split))
    (tmp_path / "distilled.btf").write_bytes(encode(distilled))
    subprocess.run(["objcopy", "--add-section", f".BTF={tmp_path / 'split.btf'}",
                    "--add-section", f".BTF.base={tmp_path / 'distilled.btf'}", str(obj)],
                   check=True)
    other = Btf()
    other.add(Int(other.add_str("long"), 8, IntEncoding.SIGNED, 0, 64))
    for _ in range(50):
        other.add(Struct(other.add_str("task"), 4, []))
    (tmp_path / "other.btf").write_bytes(encode(other))
    (rc, err), out = compare(obj, "-b", "other.btf", files=(tmp_path / "other.btf",))
    assert rc == 0 and "unresolved symbol missing" not in err
    assert u32s(section_of(out)[0], 0, 8) == [ids["task"], 0, ids["u1"], ids["task_t"],
                                              ids["do_b"], extra, ids["do_a"], ids["dup"]]


# -- synthetic ELF files: both byte orders, both classes ----------------------------------------


def make_elf(btf_ids: bytes, symbols: list[tuple[str, int, int]], *, big: bool = False,
             is64: bool = True, addr: int = 0, extra: dict[str, bytes] | None = None,
             shndx: dict[str, int] | None = None) -> bytes:
    """A relocatable ELF with .BTF_ids (at *addr*), optional *extra* sections, and local
    object symbols (name, offset in .BTF_ids, size) on .BTF_ids unless *shndx* says otherwise."""
    e = ">" if big else "<"
    extra = extra or {}
    names = [".BTF_ids", *extra, ".symtab", ".strtab", ".shstrtab"]
    shstr = b"\0"
    name_off = {}
    for n in names:
        name_off[n] = len(shstr)
        shstr += n.encode() + b"\0"
    strtab = b"\0"
    sym_fmt = e + ("IBBHQQ" if is64 else "IIIBBH")
    symtab = b"\0" * struct.calcsize(sym_fmt)
    for name, off, size in symbols:
        idx = (shndx or {}).get(name, 1)
        if is64:
            symtab += struct.pack(sym_fmt, len(strtab), 1, 0, idx, addr + off, size)
        else:
            symtab += struct.pack(sym_fmt, len(strtab), addr + off, size, 1, 0, idx)
        strtab += name.encode() + b"\0"
    blobs = [btf_ids, *extra.values(), symtab, strtab, shstr]
    ehsize, shentsize = (64, 64) if is64 else (52, 40)
    out = bytearray(ehsize)
    offsets = []
    for blob in blobs:
        out += b"\0" * (-len(out) % 8)
        offsets.append(len(out))
        out += blob
    out += b"\0" * (-len(out) % 8)
    shoff = len(out)
    shdr_fmt = e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    out += b"\0" * shentsize
    for i, n in enumerate(names):
        typ, flags, link, info, align, entsize, a = 1, 0, 0, 0, 1, 0, 0
        if n == ".BTF_ids":
            flags, a = 2, addr
        elif n == ".symtab":
            typ, link, info, align = 2, len(names) - 1, len(symbols) + 1, 8
            entsize = struct.calcsize(sym_fmt)
        elif n in (".strtab", ".shstrtab"):
            typ = 3
        out += struct.pack(shdr_fmt, name_off[n], typ, flags, a, offsets[i], len(blobs[i]), link,
                           info, align, entsize)
    machine = {(True, False): 62, (True, True): 22, (False, False): 3, (False, True): 20}
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 2 if big else 1, 1]) + b"\0" * 9
    hdr_fmt = e + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    out[:ehsize] = ident + struct.pack(hdr_fmt, 1, machine[is64, big], 1, 0, 0, shoff, 0, ehsize,
                                       0, 0, shentsize, len(names) + 1, len(names))
    return bytes(out)


def synthetic_case(big: bool) -> tuple[bytes, list[tuple[str, int, int]]]:
    """list [task, do_b] + set [do_d, do_a, nope] + set8 with flags [do_c:5, do_a:3]."""
    e = ">" if big else "<"
    data = bytearray(4 * 2 + 4 * 4 + 8 + 8 * 2)
    struct.pack_into(e + "I", data, 28, 1)  # set8 flags: BTF_SET8_KFUNCS
    struct.pack_into(e + "I", data, 36, 5)
    struct.pack_into(e + "I", data, 44, 3)
    syms = [
        ("__BTF_ID__struct__task__1", 0, 4), ("__BTF_ID__func__do_b__2", 4, 4),
        ("__BTF_ID__set__s", 8, 16), ("__BTF_ID__func__do_d__3", 12, 4),
        ("__BTF_ID__func__do_a__4", 16, 4), ("__BTF_ID__func__nope__5", 20, 4),
        ("__BTF_ID__set8__k", 24, 24), ("__BTF_ID__func__do_c__6", 32, 4),
        ("__BTF_ID__func__do_a__7", 40, 4),
    ]
    return bytes(data), syms


@pytest.mark.parametrize(("big", "is64"), [(False, True), (True, True), (False, False),
                                            (True, False)])
def test_synthetic_elf_byte_orders(tmp_path: Path, compare: Compare, big: bool,
                                   is64: bool) -> None:
    """Values are written in the ELF's byte order; the BTF may be either (libbpf swaps)."""
    btf, ids = model_btf()
    (tmp_path / "m.btf").write_bytes(encode(btf, "big" if big else "little"))
    data, syms = synthetic_case(big)
    obj = tmp_path / "syn.o"
    obj.write_bytes(make_elf(data, syms, big=big, is64=is64, addr=0x1000))
    (rc, err), out = compare(obj, "--btf", "m.btf", files=(tmp_path / "m.btf",))
    assert rc == 0 and err == "WARN: resolve_btfids: unresolved symbol nope\n"
    got = section_of(out)[0]
    e = ">" if big else "<"
    assert u32s(got, 0, 2, e) == [ids["task"], ids["do_b"]]
    assert u32s(got, 8, 4, e) == [3, 0, *sorted([ids["do_d"], ids["do_a"]])]
    assert u32s(got, 24, 6, e) == [2, 1, *[x for p in sorted([(ids["do_c"], 5), (ids["do_a"], 3)])
                                           for x in p]]


# -- duplicates, limits, warnings, options ------------------------------------------------------


def test_more_than_100_slots_for_one_name_fail_like_the_kernel(tmp_path: Path, gcc: str,
                                                               pahole: str,
                                                               compare: Compare) -> None:
    src = TYPES_C + "BTF_ID_LIST(many)\n" + "BTF_ID(func, do_a)\n" * 101
    obj = add_btf(pahole, compile_c(gcc, src, tmp_path / "many.o"))
    (rc, err), out = compare(obj)
    assert rc == 255
    assert err == "FAILED symbol do_a crossed the number of allowed lists\n"
    assert out.read_bytes() == obj.read_bytes()


def test_fatal_warnings(forms_obj: Path, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    obj = tmp_path / "fatal.o"
    shutil.copy(forms_obj, obj)
    rc, err = run_ours(["--fatal_warnings", str(obj)], capsys)
    assert rc == 255 and "unresolved symbol missing" in err
    check_forms(obj, load(obj))  # written anyway, as the kernel tool does


def test_patch_btfids_blob(forms_obj: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    obj = tmp_path / "p.o"
    shutil.copy(forms_obj, obj)
    data, _ = section_of(obj)
    blob = tmp_path / "p.o.BTF_ids"
    new = bytes(range(256))[: len(data)]
    blob.write_bytes(new)
    before = obj.read_bytes()
    assert run_ours(["--patch_btfids", str(blob), str(obj)], capsys) == (0, "")
    assert section_of(obj)[0] == new
    after = obj.read_bytes()
    assert len(after) == len(before) and sum(a != b for a, b in zip(after, before, strict=True)) \
        <= len(data)
    blob.write_bytes(new + b"x")
    rc, err = run_ours(["--patch_btfids", str(blob), str(obj)], capsys)
    assert rc == 255
    assert err == (f"FAILED: size mismatch - .BTF_ids section in {obj} is {len(data)} bytes, "
                   f"{blob} is {len(data) + 1} bytes\n")
    plain = tmp_path / "none.o"
    plain.write_bytes(make_elf(b"", [])[:])
    subprocess.run(["objcopy", "--remove-section", ".BTF_ids", str(plain)], check=True)
    rc, err = run_ours(["--patch_btfids", str(blob), str(plain)], capsys)
    assert (rc, err) == (255, f"FAILED: section .BTF_ids not found in {plain}\n")


def test_gen_btf_calls_are_not_in_place_runs(forms_obj: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The 6.19+ calls (BTF files out: tests/test_btfids_btf_mode.py) leave the ELF file as it
    is, also when they fail, rather than being taken for a 6.12 in-place run."""
    obj = tmp_path / "g.o"
    shutil.copy(forms_obj, obj)
    shutil.copy(forms_obj, tmp_path / "g.o.BTF.1")
    rc, err = run_ours(["--distill_base", "-b", str(tmp_path / "none"), str(obj)], capsys)
    assert rc == 255 and err.count("\n") == 1 and err.startswith("FAILED: load base BTF")
    rc, _ = run_ours(["--btf", str(tmp_path / "g.o.BTF.1"), str(obj)], capsys)
    assert rc == 0 and (tmp_path / "g.o.BTF").exists() and (tmp_path / "g.o.BTF_ids").exists()
    assert obj.read_bytes() == forms_obj.read_bytes()


def test_btfids_listing(forms_obj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slots = list_slots(str(forms_obj))
    ids = first_ids(load(forms_obj))
    assert [s.kind for s in slots].count("set8") == 3
    by_symbol = {s.symbol: s for s in slots}
    assert all(s.stored == 0 for s in slots)  # nothing written
    assert next(s for n, s in by_symbol.items() if "__func__do_b__" in n).id == \
        ids[Kind.FUNC, "do_b"]
    assert by_symbol["__BTF_ID__set8__set8a"].id == 6
    assert by_symbol["__BTF_ID__set8__kf"].flags == 1
    capsys.readouterr()
    assert cli_main(["btfids", str(forms_obj)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["OFFSET", "KIND", "NAME", "ID", "IN", "FILE", "FLAGS", "SYMBOL"]
    assert any(line.split()[:4] == ["0x14", "struct", "missing", "unresolved"] for line in out)
    assert out[-1] == "26 symbols (21 id slots, 5 sets), 4 unresolved"


# -- (c) bad input: one line, the kernel's status, the file untouched ---------------------------


def test_no_btf_ids_section_is_nothing_to_do(tmp_path: Path, gcc: str,
                                             compare: Compare) -> None:
    obj = compile_c(gcc, TYPES_C, tmp_path / "plain.o")
    (rc, err), out = compare(obj)
    assert (rc, err) == (0, "")
    assert out.read_bytes() == obj.read_bytes()
    (rc, err), _ = compare(obj, "-v")
    assert err == "Cannot find .BTF_ids or symbols sections, nothing to do\n"


def test_no_btf_and_no_btf_option(tmp_path: Path, gcc: str, compare: Compare) -> None:
    obj = compile_c(gcc, FORMS_C, tmp_path / "nobtf.o", debug=False)
    (rc, err), out = compare(obj, same_stderr=False)
    assert rc == 255
    assert err == "FAILED: load BTF from nobtf.o: No data available (no .BTF section)\n"
    assert out.read_bytes() == obj.read_bytes()


# the kernel tool crashes on the first one (strrchr() finds no '_'); ours says what is wrong
KERNEL_CRASHES = {"__BTF_ID__func__x"}
MALFORMED = {
    "__BTF_ID__func__x": "FAILED to parse symbol name: func__x",
    "__BTF_ID__func__a_1": "FAILED to parse symbol name: func__a_1",
    "__BTF_ID__bogus__x__1": "FAILED unsupported prefix bogus__x__1",
    "__BTF_ID__set__": "FAILED to parse set name: set__",
    "__BTF_ID__set8__": "FAILED to parse set name: set8__",
}


@pytest.mark.parametrize("symbol", sorted(MALFORMED))
def test_malformed_symbol_names(tmp_path: Path, gcc: str, pahole: str, compare: Compare,
                                symbol: str) -> None:
    src = TYPES_C + \
        f'asm(".pushsection .BTF_ids,\\"a\\"\\n{symbol}:\\n.zero 8\\n.popsection\\n");\n'
    obj = add_btf(pahole, compile_c(gcc, src, tmp_path / "bad.o"))
    (rc, err), out = compare(obj, kernel_crashes=symbol in KERNEL_CRASHES)
    assert (rc, err) == (255, MALFORMED[symbol] + "\n")
    assert out.read_bytes() == obj.read_bytes()


def test_kind_is_matched_as_a_prefix_like_the_kernel(tmp_path: Path, gcc: str, pahole: str,
                                                     compare: Compare) -> None:
    """'__BTF_ID__structx__y__1' is a struct named '_y' to the kernel tool: keep the quirk."""
    src = TYPES_C + 'asm(".pushsection .BTF_ids,\\"a\\"\\n__BTF_ID__structx__y__1:\\n.zero 4\\n' \
                    '.popsection\\n");\n'
    obj = add_btf(pahole, compile_c(gcc, src, tmp_path / "quirk.o"))
    (rc, err), _ = compare(obj)
    assert (rc, err) == (0, "WARN: resolve_btfids: unresolved symbol _y\n")


def test_duplicate_set_names_fail(tmp_path: Path, gcc: str, pahole: str,
                                  compare: Compare) -> None:
    src = TYPES_C + "BTF_SET_START(twin)\nBTF_ID(func, do_a)\nBTF_SET_END(twin)\n" + \
        'asm(".pushsection .BTF_ids,\\"a\\"\\n__BTF_ID__set8__twin:\\n.zero 8\\n.popsection\\n");\n'
    obj = add_btf(pahole, compile_c(gcc, src, tmp_path / "twin.o"))
    (rc, err), out = compare(obj, same_stderr=False)  # the kernel tool fails silently here
    assert rc == 255
    assert err.startswith("FAILED duplicate set name twin") and err.count("\n") == 1
    assert out.read_bytes() == obj.read_bytes()


def test_symbol_outside_the_section(tmp_path: Path, gcc: str, pahole: str,
                                    compare: Compare) -> None:
    src = FORMS_C + 'asm(".pushsection .BTF_ids,\\"a\\"\\n.set __BTF_ID__func__do_a__999, ' \
                    'list1 + 4096\\n.popsection\\n");\n'
    obj = add_btf(pahole, compile_c(gcc, src, tmp_path / "oob.o"))
    size = len(section_of(obj)[0])
    # the kernel tool patches libelf's mmap of the file as it goes, so it leaves the slots
    # before the bad one written; ours writes nothing unless everything succeeds
    (rc, err), out = compare(obj, same_bytes=False)
    assert rc == 255
    assert err.splitlines()[-1] == f"FAILED patching index 4096 out of bounds {size}"
    assert out.read_bytes() == obj.read_bytes()


def test_set_running_past_the_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A set whose size claims more members than the section holds (the kernel tool would sort
    memory past its buffer): one line, status 255, file untouched."""
    btf, _ = model_btf()
    (tmp_path / "m.btf").write_bytes(encode(btf))
    obj = tmp_path / "big.o"
    obj.write_bytes(make_elf(bytes(16), [("__BTF_ID__set__s", 0, 400),
                                         ("__BTF_ID__func__do_a__1", 4, 4)]))
    before = obj.read_bytes()
    rc, err = run_ours(["--btf", str(tmp_path / "m.btf"), str(obj)], capsys)
    assert rc == 255 and err.count("\n") == 1
    assert err.startswith("FAILED malformed set 's': 99 members from offset 0 run past the end")
    assert obj.read_bytes() == before


def test_symbols_in_other_sections_are_ignored(tmp_path: Path, compare: Compare) -> None:
    btf, ids = model_btf()
    (tmp_path / "m.btf").write_bytes(encode(btf))
    obj = tmp_path / "other.o"
    obj.write_bytes(make_elf(bytes(8), [("__BTF_ID__func__do_a__1", 0, 4),
                                        ("__BTF_ID__func__do_b__2", 4, 4)],
                             shndx={"__BTF_ID__func__do_b__2": 3}))
    (rc, err), out = compare(obj, "--btf", "m.btf", files=(tmp_path / "m.btf",))
    assert (rc, err) == (0, "")
    assert u32s(section_of(out)[0], 0, 2) == [ids["do_a"], 0]


def test_unreadable_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    rc, err = run_ours([str(text)], capsys)
    assert rc == 255 and err.startswith("FAILED cannot get shdr str ndx") and err.count("\n") == 1
    assert text.read_text() == "hello\n"
    assert run_ours([str(tmp_path / "nope.o")], capsys) == (
        255, f"FAILED cannot open {tmp_path / 'nope.o'}: No such file or directory\n")
    assert run_ours([str(tmp_path)], capsys) == (
        255, f"FAILED cannot open {tmp_path}: Is a directory\n")
    obj = tmp_path / "x.o"
    obj.write_bytes(make_elf(bytes(4), [("__BTF_ID__func__do_a__1", 0, 4)]))
    assert run_ours(["-b", str(tmp_path / "gone"), str(obj)], capsys) == (
        255, f"FAILED: load base BTF from {tmp_path / 'gone'}: No such file or directory\n")
    (tmp_path / "junk.btf").write_bytes(b"\x9f\xeb\x01\x00" + bytes(20))
    rc, err = run_ours(["--btf", str(tmp_path / "junk.btf"), str(obj)], capsys)
    assert rc == 255 and err.startswith(f"FAILED: load BTF from {tmp_path / 'junk.btf'}: ")


def test_failed_write_leaves_the_file_untouched(forms_obj: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "w"
    work.mkdir()
    obj = work / "a.o"
    shutil.copy(forms_obj, obj)
    before = obj.read_bytes()

    def no_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    # pages of one byte: the change spans several, so the file is copied and renamed
    monkeypatch.setattr(patch, "PAGE_SIZE", 1)
    monkeypatch.setattr(os, "replace", no_rename)
    rc, err = run_ours([str(obj)], capsys)
    assert rc == 255
    assert err.splitlines()[-1] == f"FAILED cannot write {obj}: No space left on device"
    assert obj.read_bytes() == before
    assert sorted(p.name for p in work.iterdir()) == ["a.o"]  # no temporary file left


def test_one_page_change_is_written_in_place(forms_obj: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A change within one page is one pwrite into the same inode (hard links stay), and a
    failing write leaves the file as it was."""
    obj = tmp_path / "a.o"
    shutil.copy(forms_obj, obj)
    before = obj.read_bytes()
    ino = obj.stat().st_ino
    real_pwrite = os.pwrite

    def failing_pwrite(fd: int, data: bytes, offset: int) -> int:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "pwrite", failing_pwrite)
    rc, err = run_ours([str(obj)], capsys)
    assert rc == 255
    assert err.splitlines()[-1] == f"FAILED cannot write {obj}: Input/output error"
    assert obj.read_bytes() == before

    writes: list[int] = []

    def counting_pwrite(fd: int, data: bytes, offset: int) -> int:
        writes.append(len(data))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", counting_pwrite)
    assert run_ours([str(obj)], capsys)[0] == 0
    assert obj.stat().st_ino == ino
    assert len(writes) == 1 and writes[0] <= patch.PAGE_SIZE
    check_forms(obj, load(obj))
    after = obj.read_bytes()
    assert len(after) == len(before) and after != before


def test_changed_span() -> None:
    assert patch.changed_span(b"abcd", b"abcd") is None
    assert patch.changed_span(b"abcd", b"aXcd") == (1, 1)
    assert patch.changed_span(b"abcd", b"XbcY") == (0, 3)


def test_file_mode_is_kept(forms_obj: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    obj = tmp_path / "m.o"
    shutil.copy(forms_obj, obj)
    obj.chmod(0o751)
    assert run_ours([str(obj)], capsys)[0] == 0
    assert obj.stat().st_mode & 0o7777 == 0o751


def test_symlink_target_is_patched(forms_obj: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "real.o"
    shutil.copy(forms_obj, real)
    link = tmp_path / "link.o"
    link.symlink_to(real)
    assert run_ours([str(link)], capsys)[0] == 0
    assert link.is_symlink()
    check_forms(real, load(real))


def test_module_without_base_fails_like_libbpf(tmp_path: Path, compare: Compare) -> None:
    """Split BTF read without its base: libbpf refuses the string section, and so do we."""
    base, _ = model_btf()
    split = Btf(base)
    split.add(Struct(split.add_str("only_here"), 4, []))
    obj = tmp_path / "mod.ko"
    obj.write_bytes(make_elf(bytes(4), [("__BTF_ID__struct__only_here__1", 0, 4)]))
    (tmp_path / "split.btf").write_bytes(encode(split))
    (rc, err), out = compare(obj, "--btf", "split.btf", same_stderr=False,
                             files=(tmp_path / "split.btf",))
    assert (rc, err) == (255, "FAILED: load BTF from split.btf: Invalid argument (invalid BTF "
                              "string section)\n")
    assert out.read_bytes() == obj.read_bytes()


def test_usage_errors_exit_129(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, first in (([], ""), (["-h"], ""), (["a", "b"], ""),
                        (["--bogus", "x"], " Error: unknown option `bogus'"),
                        (["-x", "x"], " Error: unknown switch `x'"),
                        (["--btf"], " Error: option `btf' requires a value"),
                        (["--bt", "x"], " Error: Ambiguous option: bt (could be --btf or "
                                        "--btf_base)")):
        rc, err = run_ours(argv, capsys)
        assert rc == 129, argv
        assert "Usage: btfbuild-resolve-btfids [<options>] <ELF object>" in err
        if first:
            assert err.splitlines()[0] == first


def test_option_forms(forms_obj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--opt=value, abbreviations, bundled short options, '-bFILE', '--' as the kernel parses."""
    btf, _ = model_btf()
    (tmp_path / "m.btf").write_bytes(encode(btf))
    for argv in (["--btf=" + str(tmp_path / "m.btf")], ["--bt=x", "--btf", str(tmp_path / "m.btf")],
                 ["-vv", "--verb", "--btf", str(tmp_path / "m.btf")]):
        obj = tmp_path / "o.o"
        shutil.copy(forms_obj, obj)
        rc, _ = run_ours([*argv, str(obj)], capsys)
        if argv[0] == "--bt=x":
            assert rc == 129
            continue
        assert rc == 0
        check_forms(obj, btf)


def test_never_a_traceback(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ko"
    junk.write_bytes(b"\x7fELF" + random.Random(1).randbytes(200))
    proc = subprocess.run([sys.executable, "-m", "btfbuild.fronts.resolve_btfids", str(junk)],
                          capture_output=True, text=True)
    assert proc.returncode == 255
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("FAILED ")


# -- (b) Debian's 6.1: rebuild the pre-resolve section, resolve it, get the shipped bytes ----------

KINDS = {"struct": Kind.STRUCT, "union": Kind.UNION, "typedef": Kind.TYPEDEF, "func": Kind.FUNC}


def readelf_btf_ids(path: Path) -> tuple[int, int, int, list[tuple[int, int, str]]]:
    """(sh_addr, sh_offset, sh_size) of .BTF_ids and its __BTF_ID__ symbols as (offset, size,
    name), read with binutils' readelf (independent of our ELF code)."""
    out = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        f = line.replace("[ ", "[").split()
        if len(f) > 5 and f[1] == ".BTF_ids":
            idx, addr, off, size = int(f[0].strip("[]")), int(f[3], 16), int(f[4], 16), \
                int(f[5], 16)
            break
    else:
        raise AssertionError(f"{path}: no .BTF_ids")
    out = subprocess.run(["readelf", "-sW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    syms = []
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[7].startswith("__BTF_ID__") and f[6] == str(idx):
            syms.append((int(f[1], 16) - addr, int(f[2], 0), f[7]))
    return addr, off, size, syms


def unresolve(shipped: bytes, syms: list[tuple[int, int, str]], btf: Btf) -> bytes:
    """The section as the compiler left it: every slot and set count 0, and each set8 member's
    flags back behind its own slot (found through its id among the shipped id/flags pairs)."""
    ids = first_ids(btf)
    buf = bytearray(shipped)
    flags_at: dict[int, int] = {}
    for off, size, name in syms:
        if not name.startswith("__BTF_ID__set8__"):
            continue
        cnt, = struct.unpack_from("<I", shipped, off)
        by_id: dict[int, list[int]] = defaultdict(list)
        for p in range(off + 8, off + 8 + 8 * cnt, 8):
            tid, flags = struct.unpack_from("<II", shipped, p)
            by_id[tid].append(flags)
        for soff, _, sname in sorted(syms):
            if off + 8 <= soff < off + size and not sname.startswith("__BTF_ID__set"):
                kind, rest = sname[len("__BTF_ID__"):].split("__", 1)
                tid = ids.get((KINDS[kind], rest.rsplit("__", 1)[0]), 0)
                flags_at[soff] = by_id[tid].pop(0)
    for off, _, _ in syms:
        struct.pack_into("<I", buf, off, 0)
    for off, flags in flags_at.items():
        struct.pack_into("<I", buf, off + 4, flags)
    return bytes(buf)


def reset_copy(src: Path, dst: Path, btf: Btf) -> tuple[int, int, bytes]:
    _, off, size, syms = readelf_btf_ids(src)
    shutil.copyfile(src, dst)
    with dst.open("r+b") as f:
        f.seek(off)
        shipped = f.read(size)
        pre = unresolve(shipped, syms, btf)
        assert pre != shipped
        f.seek(off)
        f.write(pre)
    return off, size, shipped


@pytest.mark.realkernel
def test_nf_conntrack_gives_the_shipped_section_back(linux61: Path, vmlinux61: Path,
                                                     tmp_path: Path, kernel_tool: Path | None,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    ko = linux61 / "modules" / "nf_conntrack.ko"
    btf = load(ko, load(vmlinux61))
    work = tmp_path / "nf_conntrack.ko"
    reset_copy(ko, work, btf)
    assert run_ours(["-b", str(vmlinux61), str(work)], capsys) == (0, "")
    assert work.read_bytes() == ko.read_bytes()  # the section, and so the whole file
    if kernel_tool is not None:
        theirs = tmp_path / "kernel.ko"
        reset_copy(ko, theirs, btf)
        assert run_kernel(kernel_tool, ["-b", str(vmlinux61), str(theirs)], tmp_path) == (0, "")
        assert theirs.read_bytes() == ko.read_bytes()


def same_files(a: Path, b: Path) -> bool:
    with a.open("rb") as x, b.open("rb") as y:
        while True:
            chunk = x.read(1 << 24)
            if chunk != y.read(1 << 24):
                return False
            if not chunk:
                return True


@pytest.mark.realkernel
def test_vmlinux_gives_the_shipped_section_back(vmlinux61: Path, tmp_path: Path,
                                                kernel_tool: Path | None,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    btf = load(vmlinux61)
    work = tmp_path / "vmlinux"
    off, size, shipped = reset_copy(vmlinux61, work, btf)
    assert run_ours([str(work)], capsys) == (0, "")
    with work.open("rb") as f:
        f.seek(off)
        assert f.read(size) == shipped
    assert same_files(work, vmlinux61)  # and nothing else differs
    if kernel_tool is not None:
        work.unlink()
        theirs = tmp_path / "vmlinux.kernel"
        reset_copy(vmlinux61, theirs, btf)
        assert run_kernel(kernel_tool, [str(theirs)], tmp_path) == (0, "")
        assert same_files(theirs, vmlinux61)


@pytest.mark.realkernel
def test_vmlinux_names_model_and_raw_agree(vmlinux61: Path) -> None:
    btf = load(vmlinux61)
    _, _, _, syms = readelf_btf_ids(vmlinux61)
    wanted: dict[int, set[bytes]] = defaultdict(set)
    for _, _, name in syms:
        kind, rest = name[len("__BTF_ID__"):].split("__", 1)
        if kind in KINDS:
            wanted[int(KINDS[kind])].add(rest.rsplit("__", 1)[0].encode())
    from btfbuild.btf.elf import read_btf_sections

    raw = RawNames(read_btf_sections(vmlinux61).btf or b"")
    assert raw.type_count == btf.type_count
    assert raw.lookup(wanted) == ModelNames(btf).lookup(wanted)
    few = {k: set(list(v)[:3]) for k, v in wanted.items()}  # the other string search
    assert raw.lookup(few) == ModelNames(btf).lookup(few)


@pytest.mark.realkernel
def test_listing_a_shipped_module(linux61: Path, vmlinux61: Path) -> None:
    slots = list_slots(str(linux61 / "modules" / "nf_conntrack.ko"), base=str(vmlinux61))
    plain = [s for s in slots if s.kind == "struct"]
    assert plain and all(s.id == s.stored and s.id > 0 for s in plain)
    assert not [s for s in slots if s.kind == "func" and not s.id]


def test_resolve_with_a_model_in_memory(forms_obj: Path, tmp_path: Path) -> None:
    from btfbuild.btfids import resolve_model

    obj = tmp_path / "mm.o"
    shutil.copy(forms_obj, obj)
    fresh = tmp_path / "fresh.o"
    shutil.copy(forms_obj, fresh)
    btf = load(obj)
    res = resolve_model(str(obj), btf)
    assert res.changed and res.warnings == 5
    check_forms(obj, btf)
    dry = resolve_file(str(fresh), write=False)
    assert dry.section == section_of(obj)[0] and fresh.read_bytes() == forms_obj.read_bytes()
