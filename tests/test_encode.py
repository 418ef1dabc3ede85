"""The DWARF encoder against pahole 1.30: same types, layouts, functions and variables.

The corpus in tests/corpus is compiled with gcc and clang at test time (DWARF 4 and 5), then
encoded by pahole 1.30 and by btfbuild with the kernel's feature list; the two BTFs must be the
same by structure (``btfbuild.diff``), and ours must pass the kernel's validation.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from btfbuild.btf import load
from btfbuild.btf.types import Array, Int, IntEncoding
from btfbuild.diff import diff

CORPUS = Path(__file__).parent / "corpus"
KBUILD_FEATURES = ("encode_force,var,float,enum64,decl_tag,type_tag,optimized_func,"
                   "consistent_func,decl_tag_kfuncs")


def ours(elf: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "btfbuild.fronts.pahole", "-J", "-j2",
         f"--btf_features={KBUILD_FEATURES}", f"--btf_encode_detached={out}", *extra, str(elf)],
        capture_output=True, text=True, check=False)


def pahole(tool: Path, elf: Path, out: Path, *extra: str) -> None:
    subprocess.run([str(tool), "-J", f"--btf_features={KBUILD_FEATURES}",
                    f"--btf_encode_detached={out}", *extra, str(elf)],
                   check=True, capture_output=True)


def compile_corpus(cc: str, dwarf: int, src: Path, out: Path) -> Path:
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} not installed")
    subprocess.run([cc, "-g", f"-gdwarf-{dwarf}", "-O2", "-c", str(src), "-o", str(out)],
                   check=True)
    return out


def assert_same_as_pahole(tool: Path, elf: Path, tmp: Path, ours_elf: Path | None = None) -> None:
    """pahole 1.30 on *elf* and btfbuild on *ours_elf* (default: the same file) give the same
    BTF by structure."""
    theirs, mine = tmp / "pahole.btf", tmp / "ours.btf"
    pahole(tool, elf, theirs)
    r = ours(ours_elf or elf, mine)
    assert r.returncode == 0, r.stderr
    d = diff(load(theirs), load(mine))
    assert not d, "\n".join([f"- {k}: {t}" for k, t in d.only_a[:20]]
                            + [f"+ {k}: {t}" for k, t in d.only_b[:20]])
    from btfbuild.check import validate

    assert validate(load(mine)) == []


@pytest.mark.parametrize("cc", ["gcc", "clang"])
@pytest.mark.parametrize("dwarf", [4, 5])
def test_corpus_matches_pahole(pahole130: Path, tmp_path: Path, cc: str, dwarf: int) -> None:
    obj = compile_corpus(cc, dwarf, CORPUS / "kinds.c", tmp_path / "kinds.o")
    assert_same_as_pahole(pahole130, obj, tmp_path)


@pytest.mark.parametrize("units", [("array_no_int",), ("array_no_int", "array_with_int")])
def test_array_index_type_without_int_matches_pahole(pahole130: Path, tmp_path: Path,
                                                     units: tuple[str, ...]) -> None:
    """A CU with arrays but no `int` gets pahole 1.30's index type: a signed 32-bit `int`
    (also when a later CU has its own `int`), and the file's BTF is otherwise the same."""
    objs = [compile_corpus("gcc", 5, CORPUS / f"{u}.c", tmp_path / f"{u}.o") for u in units]
    linked = tmp_path / "linked.o"
    subprocess.run(["ld", "-r", *map(str, objs), "-o", str(linked)], check=True)
    assert_same_as_pahole(pahole130, linked, tmp_path)
    btf = load(tmp_path / "ours.btf")
    index_types = {t.index_type_id for _, t in btf if isinstance(t, Array)}
    assert len(index_types) == 1
    index = btf.type(index_types.pop())
    assert isinstance(index, Int) and btf.name(index) == "int"
    assert (index.size, index.bits, index.encoding) == (4, 32, IntEncoding.SIGNED)


def test_gcc_lto_object_matches_pahole(pahole130: Path, tmp_path: Path) -> None:
    """gcc -flto's DWARF refers from one compile unit into another (DW_FORM_ref_addr)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    lib = tmp_path / "liblto.so"
    subprocess.run(["gcc", "-O2", "-g", "-flto", "-fPIC", "-shared", str(CORPUS / "lto_a.c"),
                    str(CORPUS / "lto_b.c"), "-o", str(lib)], check=True)
    abbrevs = subprocess.run(["readelf", "--debug-dump=abbrev", str(lib)], check=True,
                             capture_output=True, text=True).stdout
    assert "DW_FORM_ref_addr" in abbrevs, "no cross-unit reference: the test proves nothing"
    assert_same_as_pahole(pahole130, lib, tmp_path)


def test_dwz_compressed_object_encodes_like_the_original(pahole130: Path, tmp_path: Path) -> None:
    """dwz moves types shared by several compile units into partial units that the units
    import; the BTF must be the one pahole makes of the object before dwz (pahole 1.30 itself
    gives up on partial units)."""
    if shutil.which("gcc") is None or shutil.which("dwz") is None:
        pytest.skip("gcc or dwz not installed")
    structs = [f"struct s{i} {{ int a; long b[4]; struct s{(i + 1) % 40} *next; char c; }};"
               for i in range(40)]
    (tmp_path / "common.h").write_text("\n".join(structs) + "\n")
    sources = []
    for unit in "xyz":
        src = tmp_path / f"{unit}.c"
        src.write_text('#include "common.h"\n' + "".join(
            f"int {unit}_use{i}(struct s{i} *p) {{ return p->a + (int)p->b[1] + p->c; }}\n"
            for i in range(40)))
        sources.append(str(src))
    plain, packed = tmp_path / "libplain.so", tmp_path / "libdwz.so"
    subprocess.run(["gcc", "-O2", "-g", "-fPIC", "-shared", *sources, "-o", str(plain)],
                   check=True)
    shutil.copy(plain, packed)
    subprocess.run(["dwz", str(packed)], check=True)
    info = subprocess.run(["readelf", "--debug-dump=info", str(packed)], check=True,
                          capture_output=True, text=True).stdout
    assert "DW_TAG_partial_unit" in info, "dwz made no partial unit: the test proves nothing"
    assert_same_as_pahole(pahole130, plain, tmp_path, ours_elf=packed)


def test_output_is_deterministic_across_threads(tmp_path: Path) -> None:
    obj = compile_corpus("gcc", 5, CORPUS / "kinds.c", tmp_path / "kinds.o")
    outs = []
    for jobs in ("-j1", "-j2", "-j4"):
        out = tmp_path / f"out{jobs}.btf"
        r = subprocess.run([sys.executable, "-m", "btfbuild.fronts.pahole", "-J", jobs,
                            f"--btf_encode_detached={out}", str(obj)],
                           capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]


def test_no_debug_info_is_one_line_error(tmp_path: Path) -> None:
    src = tmp_path / "nodebug.c"
    src.write_text("int f(void) { return 1; }\n")
    obj = tmp_path / "nodebug.o"
    subprocess.run(["gcc", "-c", str(src), "-o", str(obj)], check=True)
    out = tmp_path / "out.btf"
    r = ours(obj, out)
    assert r.returncode == 1
    msg = f"btfbuild-pahole: {obj}: no DWARF debug info (.debug_info is missing or empty)"
    assert r.stderr.strip() == msg
    assert not out.exists()


def test_missing_file_or_directory_is_one_clear_line(tmp_path: Path) -> None:
    for target, reason in ((tmp_path / "gone.ko", "cannot open: No such file or directory"),
                           (tmp_path, "is a directory, not an ELF file")):
        r = ours(target, tmp_path / "out.btf")
        assert r.returncode == 1
        assert r.stderr == f"btfbuild-pahole: {target}: {reason}\n"


@pytest.mark.parametrize("garbage", [b"", b"\x7fELF\x02\x01\x01" + b"\0" * 9, b"not an elf"])
def test_corrupt_input_is_one_line_error(tmp_path: Path, garbage: bytes) -> None:
    f = tmp_path / "bad.o"
    f.write_bytes(garbage)
    r = ours(f, tmp_path / "out.btf")
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "bad.o" in r.stderr
    assert "Traceback" not in r.stderr and "panicked" not in r.stderr


def test_truncated_debug_info_is_an_error_not_a_panic(tmp_path: Path) -> None:
    obj = compile_corpus("gcc", 5, CORPUS / "kinds.c", tmp_path / "kinds.o")
    data = bytearray(obj.read_bytes())
    # overwrite the middle of the file (where .debug_info lives) with garbage
    mid = len(data) // 3
    data[mid : mid + 4096] = bytes((i * 37) & 0xFF for i in range(4096))
    bad = tmp_path / "corrupt.o"
    bad.write_bytes(bytes(data))
    r = ours(bad, tmp_path / "out.btf")
    assert "panicked" not in r.stderr and "Traceback" not in r.stderr
    if r.returncode != 0:
        assert len(r.stderr.strip().splitlines()) == 1


def test_version_and_features() -> None:
    r = subprocess.run([sys.executable, "-m", "btfbuild.fronts.pahole", "--version"],
                       capture_output=True, text=True, check=True)
    assert r.stdout == "v1.30\n"
    r = subprocess.run([sys.executable, "-m", "btfbuild.fronts.pahole",
                        "--supported_btf_features"], capture_output=True, text=True, check=True)
    assert set(KBUILD_FEATURES.split(",")) <= set(r.stdout.strip().split(","))


def test_later_btf_features_lists_add_to_the_first() -> None:
    """pahole 1.30: the first --btf_features replaces the defaults, later ones only add (kbuild
    passes distilled_base, and Linux 7.x attributes, as a second list)."""
    from btfbuild.features import Features

    f = Features()
    assert "var" in f.enabled()
    f.apply("decl_tag,float")
    assert f.enabled() == ["float", "decl_tag"]
    f.apply("distilled_base")
    f.apply("attributes")  # unknown to pahole 1.30: ignored
    assert f.enabled() == ["float", "decl_tag", "distilled_base"]
    f.apply("+var")
    assert "var" in f.enabled() and "float" in f.enabled()


def test_a_second_features_list_keeps_the_first(tmp_path: Path) -> None:
    obj = compile_corpus("gcc", 5, CORPUS / "kinds.c", tmp_path / "kinds.o")
    one, two = tmp_path / "one.btf", tmp_path / "two.btf"
    assert ours(obj, one).returncode == 0
    assert ours(obj, two, "--btf_features=attributes").returncode == 0
    assert one.read_bytes() == two.read_bytes()


EXPLAIN_A = """
__attribute__((noinline)) static int helper(int x) { return x + 1; }
static inline int inlined(int x) { return x * 3; }
int unnamed(int, int b) { return b; }
int global_counter;
int use_a(int v) { global_counter++; return helper(v) + inlined(v); }
"""
EXPLAIN_B = """
__attribute__((noinline)) static long helper(long x, long y) { return x * y; }
long use_b(long v) { return helper(v, v + 1); }
"""


def test_explain_says_why(tmp_path: Path) -> None:
    """``btfbuild encode --explain``: a reason per definition and a verdict per name, which the
    BTF itself bears out; no output file without -o."""
    if shutil.which("gcc") is None or shutil.which("ld") is None:
        pytest.skip("gcc/ld not installed")
    objs = []
    for name, src in (("a", EXPLAIN_A), ("b", EXPLAIN_B)):
        (tmp_path / f"{name}.c").write_text(src)
        subprocess.run(["gcc", "-std=gnu2x", "-g", "-O2", "-c", str(tmp_path / f"{name}.c"),
                        "-o", str(tmp_path / f"{name}.o")], check=True)
        objs.append(str(tmp_path / f"{name}.o"))
    obj = tmp_path / "ab.o"
    subprocess.run(["ld", "-r", *objs, "-o", str(obj)], check=True)
    names = ["use_a", "helper", "inlined", "unnamed", "global_counter", "no_such_thing"]
    r = subprocess.run([sys.executable, "-m", "btfbuild.cli", "encode", str(obj),
                        "--features", KBUILD_FEATURES, *(f"--explain={n}" for n in names)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    blocks: dict[str, str] = {}
    for line in r.stdout.splitlines():
        if not line.startswith(" "):
            current = line.split(":", 1)[0]
            blocks[current] = line
        else:
            blocks[current] += "\n" + line
    assert list(blocks) == names
    assert "=> FUNC emitted" in blocks["use_a"]
    # both definitions are candidates (one line for both units), but they disagree
    assert (f"in {tmp_path}/a.c, {tmp_path}/b.c: function definition: candidate"
            in blocks["helper"])
    assert "prototypes differ between compile units" in blocks["helper"]
    assert "no STT_FUNC symbol" in blocks["inlined"]
    assert "a parameter has no name" in blocks["unnamed"]
    assert "no .data..percpu section" in blocks["global_counter"]
    assert "no function definition or variable of that name" in blocks["no_such_thing"]
    assert not (tmp_path / "ab.o.btf").exists()
    # the verdicts are the BTF's: only use_a and use_b are FUNCs
    out = tmp_path / "ab.btf"
    r = subprocess.run([sys.executable, "-m", "btfbuild.cli", "encode", str(obj), "-q",
                        "--features", KBUILD_FEATURES, "-o", str(out)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    btf = load(out)
    funcs = sorted(btf.name(t) for _, t in btf.all_types() if t.kind.name == "FUNC")
    assert funcs == ["use_a", "use_b"]
