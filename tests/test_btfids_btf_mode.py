"""resolve_btfids as kernels 6.19+ run it (scripts/gen-btf.sh): ``--btf ELF.BTF.1`` in, the files
``ELF.BTF``, ``ELF.BTF_ids`` and ``ELF.BTF.base`` out, the ELF file untouched.

Test objects are compiled with gcc from C using ``tests/data/btf_ids_test.h``; their detached BTF
comes from our pahole front, as gen-btf.sh has pahole write it. The written files are checked on
their own terms: the kfunc annotations, the order of the types, the kernel's validation rules,
and, after putting them back into the object as gen-btf.sh does, the ids in ``.BTF_ids``
(checked against the written BTF by name, with the in-place mode's test expectations). The
real-kernel tier runs the mode on Debian 6.1's nf_conntrack.ko (a 6.1 module: the released
tool's behaviour) and compares, slot by slot and set by set, the names the new ids stand for with
those of the shipped section.

Which tool the run follows, the released one (kernels up to 7.2) or bpf-next's, depends on the
kernel the ELF file says it belongs to: test objects get a ``vermagic`` in ``.modinfo`` or a
``linux_banner`` to say so, and say nothing otherwise (bpf-next's).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from btfbuild.btf import Btf, encode, load, raw
from btfbuild.btf.permute import permute
from btfbuild.btf.relocate import rewrite_type
from btfbuild.btf.types import (
    BtfType,
    DeclTag,
    Func,
    FuncProto,
    Int,
    IntEncoding,
    Kind,
    Ptr,
    Struct,
    TypeTag,
)
from btfbuild.btfids.genbtf import generate, released_tool, sort_by_name
from btfbuild.btfids.symbols import kernel_version, parse_release, read_layout
from btfbuild.check import validate
from btfbuild.errors import BtfbuildError
from btfbuild.fronts.pahole import main as pahole_main
from tests.test_btfids import (
    FORMS_C,
    _need_tool,
    check_forms,
    first_ids,
    make_elf,
    model_btf,
    readelf_btf_ids,
    reset_copy,
    run_ours,
    section_of,
    symbols_of,
    synthetic_case,
    u32s,
)

DATA = Path(__file__).parent / "data"

# pahole's standard features without decl_tag_kfuncs: the tags must come from resolve_btfids
NO_KFUNC_TAGS = "encode_force,var,float,decl_tag,type_tag,enum64,optimized_func,consistent_func"

KFUNCS_C = FORMS_C + r"""
#define KF_ACQUIRE (1 << 0)
#define KF_FASTCALL (1 << 12)
#define KF_ARENA_RET (1 << 13)
#define KF_ARENA_ARG1 (1 << 14)
#define KF_ARENA_ARG2 (1 << 15)
#define KF_IMPLICIT_ARGS (1 << 16)

struct bpf_prog_aux { int id; };
struct btf_struct_meta { long off; };
int bpf_plain(struct task *t) { return t->pid; }
int bpf_fast(int a) { return a + 1; }
int bpf_implicit(int a, struct task *t, struct bpf_prog_aux *aux) { return a + t->pid + aux->id; }
int bpf_meta(int a, const struct btf_struct_meta *meta, int b) { return a + b + (int)meta->off; }
int bpf_legacy(int a, struct bpf_prog_aux *aux) { return a + aux->id; }
int bpf_legacy_impl(int a, struct bpf_prog_aux *aux) { return a - aux->id; }
void *bpf_arena_alloc(int n) { return (void *)(long)n; }
int bpf_arena_args(int *first, int *second, int *third) { return *first + *second + *third; }
int bpf_arena_named(int n, char *buf__arena__nullable, char *out__arena)
{ return n + *buf__arena__nullable + *out__arena; }
int bpf_not_kfunc(int a) { return a; }

BTF_KFUNCS_START(kf_main)
BTF_ID_FLAGS(func, bpf_plain, KF_ACQUIRE)
BTF_ID_FLAGS(func, bpf_fast, KF_FASTCALL)
BTF_ID_FLAGS(func, bpf_implicit, KF_IMPLICIT_ARGS | KF_FASTCALL)
BTF_ID_FLAGS(func, bpf_meta, KF_IMPLICIT_ARGS)
BTF_ID_FLAGS(func, bpf_legacy, KF_IMPLICIT_ARGS)
BTF_ID_FLAGS(func, bpf_arena_alloc, KF_ARENA_RET)
BTF_ID_FLAGS(func, bpf_arena_args, KF_ARENA_ARG1 | KF_ARENA_ARG2)
BTF_ID_FLAGS(func, bpf_arena_named)
BTF_ID_FLAGS(func, bpf_nowhere)
asm(".pushsection .BTF_ids,\"a\"\n.zero 8\n.popsection\n"); /* an entry without a symbol */
BTF_KFUNCS_END(kf_main)

BTF_KFUNCS_START(kf_again)
BTF_ID_FLAGS(func, bpf_plain, KF_ACQUIRE)
BTF_KFUNCS_END(kf_again)

BTF_SET8_START(not_kfuncs)
BTF_ID_FLAGS(func, bpf_not_kfunc, KF_FASTCALL)
BTF_SET8_END(not_kfuncs)

int use2(void) { return kf_main.cnt + kf_again.cnt + not_kfuncs.cnt; }
"""

KFUNCS = {"bpf_plain", "bpf_fast", "bpf_implicit", "bpf_meta", "bpf_legacy", "bpf_arena_alloc",
          "bpf_arena_args", "bpf_arena_named", "do_a", "do_c"}  # do_a, do_c: FORMS_C's set 'kf'


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def gcc() -> str:
    return _need_tool("gcc")


def compile_c(gcc: str, src: str, out: Path) -> Path:
    c = out.with_suffix(".c")
    c.write_text(src)
    subprocess.run([gcc, "-g", "-O0", "-c", "-I", str(DATA), str(c), "-o", str(out)], check=True,
                   capture_output=True)
    return out


def detached_btf(obj: Path, *, base: Path | None = None, features: str = NO_KFUNC_TAGS) -> Path:
    """``pahole -J --btf_encode_detached=OBJ.BTF.1 OBJ``, as gen-btf.sh runs it (our front)."""
    out = obj.with_name(obj.name + ".BTF.1")
    argv = ["-J", f"--btf_features={features}", f"--btf_encode_detached={out}", str(obj)]
    if base is not None:
        argv[1:1] = ["--btf_base", str(base)]
    assert pahole_main(argv) == 0
    return out


def read_split(path: Path, base: Btf | None = None) -> Btf:
    return raw.parse(path.read_bytes(), base)


def funcs_named(btf: Btf, name: str) -> list[tuple[int, Func]]:
    return [(tid, t) for tid, t in btf.all_types() if isinstance(t, Func) and btf.name(t) == name]


def the_func(btf: Btf, name: str) -> tuple[int, Func]:
    found = funcs_named(btf, name)
    assert len(found) == 1, (name, found)
    return found[0]


def tags_of(btf: Btf, target: int) -> list[str]:
    return sorted(btf.name(t) for _, t in btf.all_types()
                  if isinstance(t, DeclTag) and t.type_id == target and t.component_idx == -1)


def proto_of(btf: Btf, name: str) -> FuncProto:
    proto = btf.type(the_func(btf, name)[1].type_id)
    assert isinstance(proto, FuncProto)
    return proto


def param_names(btf: Btf, name: str) -> list[str]:
    return [btf.str(p.name_off) for p in proto_of(btf, name).params]


def is_arena_pointer(btf: Btf, tid: int) -> bool:
    ptr = btf.type(tid)
    if not isinstance(ptr, Ptr):
        return False
    attr = btf.type(ptr.type_id)
    return isinstance(attr, TypeTag) and attr.is_attr and btf.name(attr) == "address_space(1)"


def assert_sorted_by_name(btf: Btf) -> None:
    names = [btf.strings.get_bytes(t.name_off) for _, t in btf]
    assert names == sorted(names)


def embed(obj: Path, dst: Path) -> Path:
    """A copy of *obj* with the files written for it put in as gen-btf.sh does for a module
    (BTF sections it had already are dropped first)."""
    objcopy = _need_tool("objcopy")
    shutil.copy(obj, dst)
    subprocess.run([objcopy, "--remove-section", ".BTF", "--remove-section", ".BTF.base",
                    str(dst)], check=True)
    args = [objcopy, "--add-section", f".BTF={obj}.BTF"]
    if Path(f"{obj}.BTF.base").exists():
        args += ["--add-section", f".BTF.base={obj}.BTF.base"]
    if Path(f"{obj}.BTF_ids").exists():
        args += ["--update-section", f".BTF_ids={obj}.BTF_ids"]
    subprocess.run([*args, str(dst)], check=True)
    return dst


@pytest.fixture
def kfuncs_obj(tmp_path: Path, gcc: str) -> Path:
    obj = compile_c(gcc, KFUNCS_C, tmp_path / "kfuncs.o")
    detached_btf(obj)
    return obj


# -- the annotations, the order, the ids --------------------------------------------------------


def test_gen_btf_call_writes_the_three_files(kfuncs_obj: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    before = kfuncs_obj.read_bytes()
    btf1 = Path(f"{kfuncs_obj}.BTF.1")
    rc, err = run_ours(["--btf", str(btf1), str(kfuncs_obj)], capsys)
    assert rc == 0
    assert kfuncs_obj.read_bytes() == before  # only read
    assert Path(f"{kfuncs_obj}.BTF").exists() and Path(f"{kfuncs_obj}.BTF_ids").exists()
    assert not Path(f"{kfuncs_obj}.BTF.base").exists()  # no --distill_base
    warns = err.splitlines()
    assert "WARN: resolve_btfids: no BTF func for kfunc bpf_nowhere in kf_main" in warns
    assert "WARN: resolve_btfids: no BTF ID symbol for kf_main entry 9" in warns
    assert "WARN: resolve_btfids: unresolved symbol bpf_nowhere" in warns
    assert all(w.startswith("WARN: ") for w in warns)

    btf = read_split(Path(f"{kfuncs_obj}.BTF"))
    assert validate(btf) == []
    assert_sorted_by_name(btf)
    # the section written, put back as gen-btf.sh does, holds the ids of the written BTF
    done = embed(kfuncs_obj, tmp_path / "done.o")
    check_forms(done, btf)
    data, _ = section_of(done)
    ids = first_ids(btf)
    kf_main = symbols_of(done)["__BTF_ID__set8__kf_main"]
    pairs = [tuple(u32s(data, kf_main + 8 + 8 * i, 2)) for i in range(10)]
    expected = [(ids[Kind.FUNC, n], f) for n, f in (
        ("bpf_plain", 1), ("bpf_fast", 1 << 12), ("bpf_implicit", 1 << 16 | 1 << 12),
        ("bpf_meta", 1 << 16), ("bpf_legacy", 1 << 16), ("bpf_arena_alloc", 1 << 13),
        ("bpf_arena_args", 1 << 14 | 1 << 15), ("bpf_arena_named", 0))] + [(0, 0), (0, 0)]
    assert sorted(pairs) == sorted(expected)
    assert u32s(data, kf_main, 2) == [10, 1]


def test_kfunc_decl_tags(kfuncs_obj: Path) -> None:
    res = generate(str(kfuncs_obj), btf=f"{kfuncs_obj}.BTF.1", write=False)
    btf = res.btf
    for name in KFUNCS:
        tid, _ = the_func(btf, name)
        want = ["bpf_kfunc"] + (["bpf_fastcall"] if name in ("bpf_fast", "bpf_implicit") else [])
        assert tags_of(btf, tid) == sorted(want), name
    tid, _ = the_func(btf, "bpf_not_kfunc")  # in a set8 without BTF_SET8_KFUNCS
    assert tags_of(btf, tid) == []
    assert tags_of(btf, the_func(btf, "use")[0]) == []
    assert res.warnings == 3 + 5  # 2 kfunc-set warnings + bpf_nowhere; FORMS_C's 5


def test_tags_already_made_by_pahole_are_not_doubled(tmp_path: Path, gcc: str) -> None:
    """pahole's decl_tag_kfuncs made them already: the dedup merges the tags added again."""
    obj = compile_c(gcc, KFUNCS_C, tmp_path / "tagged.o")
    detached_btf(obj, features="default")
    pre = read_split(Path(f"{obj}.BTF.1"))
    assert tags_of(pre, the_func(pre, "bpf_fast")[0]) == ["bpf_fastcall", "bpf_kfunc"]
    btf = generate(str(obj), btf=f"{obj}.BTF.1", write=False).btf
    assert tags_of(btf, the_func(btf, "bpf_fast")[0]) == ["bpf_fastcall", "bpf_kfunc"]
    assert tags_of(btf, the_func(btf, "bpf_plain")[0]) == ["bpf_kfunc"]


def test_implicit_args(kfuncs_obj: Path) -> None:
    btf = generate(str(kfuncs_obj), btf=f"{kfuncs_obj}.BTF.1", write=False).btf
    # the kfunc loses the implicit parameter; its _impl twin keeps the whole prototype and the
    # kfunc's tags but bpf_kfunc
    assert param_names(btf, "bpf_implicit") == ["a", "t"]
    impl, _ = the_func(btf, "bpf_implicit_impl")
    assert param_names(btf, "bpf_implicit_impl") == ["a", "t", "aux"]
    assert tags_of(btf, impl) == ["bpf_fastcall"]
    # everything from the first implicit parameter on goes, const and struct btf_struct_meta too
    assert param_names(btf, "bpf_meta") == ["a"]
    assert param_names(btf, "bpf_meta_impl") == ["a", "meta", "b"]
    # an _impl function of the source is used as it is, not made a second time
    assert param_names(btf, "bpf_legacy") == ["a"]
    assert len(funcs_named(btf, "bpf_legacy_impl")) == 1
    # return types are kept
    assert btf.name(proto_of(btf, "bpf_meta").ret_type_id) == "int"
    # linkage is the kfunc's
    assert the_func(btf, "bpf_implicit_impl")[1].linkage == the_func(btf, "bpf_implicit")[1].linkage


def test_arena_pointers(kfuncs_obj: Path) -> None:
    btf = generate(str(kfuncs_obj), btf=f"{kfuncs_obj}.BTF.1", write=False).btf
    alloc = proto_of(btf, "bpf_arena_alloc")
    assert is_arena_pointer(btf, alloc.ret_type_id)
    ptr = btf.type(alloc.ret_type_id)
    assert isinstance(ptr, Ptr)
    attr = btf.type(ptr.type_id)
    assert isinstance(attr, TypeTag) and attr.type_id == 0  # void *
    args = proto_of(btf, "bpf_arena_args").params
    assert [is_arena_pointer(btf, p.type_id) for p in args] == [True, True, False]
    named = proto_of(btf, "bpf_arena_named").params
    assert [is_arena_pointer(btf, p.type_id) for p in named] == [False, True, True]
    # pointers of functions that are no kfuncs stay as they were
    assert not any(is_arena_pointer(btf, p.type_id) for p in proto_of(btf, "do_a").params)


def test_sort_order_is_strcmp_with_anonymous_first() -> None:
    b = Btf()
    s = b.add_str
    i32 = b.add(Int(s("int"), 4, IntEncoding.SIGNED, 0, 32))
    names = ["b", "", "B", "_a", "a", "", "ab", "a", "\xe9t\xe9"]
    made = []
    for n in names:
        made.append(b.add(Struct(s(n), 4, [])) if n else b.add(Ptr(0, i32)))
    target = b.add(Ptr(0, made[-2]))  # refers to the second "a"
    id_map = sort_by_name(b)
    order = [b.strings.get_bytes(t.name_off) for _, t in b]
    assert order == [b"", b"", b"", b"B", b"_a", b"a", b"a", b"ab", b"b", b"int",
                     "\xe9t\xe9".encode()]
    # anonymous in their old order, the pointer made last among them last; references follow
    assert [id_map[made[1]], id_map[made[5]], id_map[target]] == [1, 2, 3]
    assert id_map[made[4]] < id_map[made[7]]
    moved = b.type(id_map[target])
    assert isinstance(moved, Ptr) and moved.type_id == id_map[made[7]]
    assert all(isinstance(t, Ptr) and t.type_id == id_map[i32] for t in
               (b.type(id_map[made[1]]), b.type(id_map[made[5]])))


def test_permute_takes_only_a_permutation() -> None:
    b = Btf()
    i32 = b.add(Int(b.add_str("int"), 4, IntEncoding.SIGNED, 0, 32))
    ptr = b.add(Ptr(0, i32))
    for bad in ([i32], [i32, i32], [0, i32, ptr], [ptr, ptr + 1]):
        with pytest.raises(BtfbuildError, match="not a permutation"):
            permute(b, bad)
    assert permute(b, [ptr, i32]) == {ptr: 1, i32: 2}
    moved = b.type(1)
    assert isinstance(moved, Ptr) and moved.type_id == 2


def test_output_is_stable(kfuncs_obj: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """Two runs write the same bytes; the written BTF fed back in gives the same types (the
    strings come out in another order: the dedup lays them out in the order types use them)."""
    btf1 = f"{kfuncs_obj}.BTF.1"
    outs = []
    for _ in range(2):
        assert run_ours(["--btf", btf1, str(kfuncs_obj)], capsys)[0] == 0
        outs.append((Path(f"{kfuncs_obj}.BTF").read_bytes(),
                     Path(f"{kfuncs_obj}.BTF_ids").read_bytes()))
    assert outs[0] == outs[1]
    again = tmp_path / "again.o"
    shutil.copy(kfuncs_obj, again)
    Path(f"{again}.BTF.1").write_bytes(outs[0][0])
    assert run_ours(["--btf", f"{again}.BTF.1", str(again)], capsys)[0] == 0
    assert canonical(read_split(Path(f"{again}.BTF"))) == canonical(raw.parse(outs[0][0]))


def canonical(btf: Btf) -> list[BtfType]:
    """The types of *btf* with each name offset replaced by the number of its string in order of
    first use: equal for BTF that differs only in the layout of its string section."""
    numbers: dict[bytes, int] = {}

    def number(off: int) -> int:
        return numbers.setdefault(btf.strings.get_bytes(off), len(numbers))

    return [rewrite_type(t, lambda i: i, number) for _, t in btf]


def test_big_endian_elf_and_btf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """.BTF_ids is written in the ELF file's byte order, .BTF in the input BTF's."""
    btf, _ = model_btf()
    data, syms = synthetic_case(True)
    obj = tmp_path / "be.o"
    obj.write_bytes(make_elf(data, syms, big=True, addr=0x1000))
    Path(f"{obj}.BTF.1").write_bytes(encode(btf, "big"))
    rc, err = run_ours(["--btf", f"{obj}.BTF.1", str(obj)], capsys)
    assert (rc, err) == (0, "WARN: resolve_btfids: unresolved symbol nope\n")
    out = Path(f"{obj}.BTF").read_bytes()
    assert out[:2] == b"\xeb\x9f"  # big-endian magic
    new = raw.parse(out)
    assert new.endian == "big" and validate(new) == []
    ids = first_ids(new)
    for name in ("do_c", "do_a"):  # the set8 of synthetic_case has BTF_SET8_KFUNCS
        assert tags_of(new, ids[Kind.FUNC, name]) == ["bpf_kfunc"]
    got = Path(f"{obj}.BTF_ids").read_bytes()
    assert u32s(got, 0, 2, ">") == [ids[Kind.STRUCT, "task"], ids[Kind.FUNC, "do_b"]]
    assert u32s(got, 24, 6, ">") == [2, 1, *[x for p in sorted(
        [(ids[Kind.FUNC, "do_c"], 5), (ids[Kind.FUNC, "do_a"], 3)]) for x in p]]


# -- split BTF, distilled base ------------------------------------------------------------------

BASE_C = """
struct list { struct list *next; };
struct task { int pid; struct list l; };
struct bpf_prog_aux { int id; };
typedef unsigned long long u64;
int base_fn(struct task *t, u64 x) { return t->pid + (int)x; }
"""

MODULE_C = """
#include "btf_ids_test.h"
struct task { int pid; struct list { struct list *next; } l; };
struct bpf_prog_aux { int id; };
typedef unsigned long long u64;
struct mod_state { struct task *owner; u64 count; };
int mod_kfunc(struct mod_state *s, struct bpf_prog_aux *aux) { return s->owner->pid + aux->id; }
int mod_helper(struct task *t) { return t->pid; }

BTF_ID_LIST(mod_ids)
BTF_ID(struct, mod_state)
BTF_ID(struct, task)
BTF_ID(func, mod_helper)
BTF_KFUNCS_START(mod_kfuncs)
BTF_ID_FLAGS(func, mod_kfunc, (1 << 16))
BTF_KFUNCS_END(mod_kfuncs)
int use(void) { return mod_ids[0] + mod_kfuncs.cnt; }
"""


@pytest.fixture
def module(tmp_path: Path, gcc: str) -> tuple[Path, Path]:
    """(module object with its detached split BTF next to it, raw base BTF)."""
    base_obj = compile_c(gcc, BASE_C, tmp_path / "vmlinux.o")
    base = tmp_path / "vmlinux.btf"
    assert pahole_main(["-J", f"--btf_features={NO_KFUNC_TAGS}",
                        f"--btf_encode_detached={base}", str(base_obj)]) == 0
    mod = compile_c(gcc, MODULE_C, tmp_path / "mod.ko")
    detached_btf(mod, base=base)
    return mod, base


def test_split_btf_over_base(module: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    mod, base_path = module
    rc, err = run_ours(["--btf_base", str(base_path), "--btf", f"{mod}.BTF.1", str(mod)], capsys)
    assert (rc, err) == (0, "")
    assert not Path(f"{mod}.BTF.base").exists()
    base = load(base_path)
    btf = read_split(Path(f"{mod}.BTF"), base)
    assert validate(btf) == []
    assert_sorted_by_name(btf)
    ids = first_ids(btf)
    assert ids[Kind.STRUCT, "task"] < base.type_count  # the base's, not a copy
    assert ids[Kind.STRUCT, "mod_state"] >= base.type_count
    assert u32s(Path(f"{mod}.BTF_ids").read_bytes(), 0, 3) == [
        ids[Kind.STRUCT, "mod_state"], ids[Kind.STRUCT, "task"], ids[Kind.FUNC, "mod_helper"]]
    assert param_names(btf, "mod_kfunc") == ["s"]
    assert tags_of(btf, ids[Kind.FUNC, "mod_kfunc"]) == ["bpf_kfunc"]


def test_distilled_base(module: tuple[Path, Path], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    mod, base_path = module
    rc, err = run_ours(["--distill_base", "-b", str(base_path), "--btf", f"{mod}.BTF.1",
                        str(mod)], capsys)
    assert (rc, err) == (0, "")
    distilled = read_split(Path(f"{mod}.BTF.base"))
    assert {distilled.name(t) for _, t in distilled} >= {"task", "int"}
    # named structs of the base become empty ones of the same size in the distilled base
    task = distilled.type(distilled.find("task", Kind.STRUCT) or 0)
    assert isinstance(task, Struct) and task.members == [] and task.size == 16
    btf = read_split(Path(f"{mod}.BTF"), distilled)
    assert validate(btf) == []
    assert_sorted_by_name(btf)
    ids = first_ids(btf)
    assert u32s(Path(f"{mod}.BTF_ids").read_bytes(), 0, 3) == [
        ids[Kind.STRUCT, "mod_state"], ids[Kind.STRUCT, "task"], ids[Kind.FUNC, "mod_helper"]]
    # put into the module as gen-btf.sh does, it relocates onto the full base
    done = embed(mod, tmp_path / "done.ko")
    relocated = load(done, load(base_path))
    assert relocated.find("mod_state", Kind.STRUCT) is not None
    assert validate(relocated) == []


# -- no .BTF_ids, errors, --fatal_warnings -------------------------------------------------------


def test_object_without_btf_ids_writes_btf_only(tmp_path: Path, gcc: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    obj = compile_c(gcc, "int f(int a) { return a; }\n", tmp_path / "plain.o")
    detached_btf(obj)
    rc, err = run_ours(["-v", "--btf", f"{obj}.BTF.1", str(obj)], capsys)
    assert rc == 0
    assert "Cannot find .BTF_ids or symbols sections, skip symbols resolution" in err.splitlines()
    assert Path(f"{obj}.BTF").exists() and not Path(f"{obj}.BTF_ids").exists()


def test_fatal_warnings_keep_exit_0_in_the_btf_form(kfuncs_obj: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The kernel tool's --btf form exits 0 with --fatal_warnings too (its status is the last
    file write's); the warnings are printed."""
    rc, err = run_ours(["--fatal_warnings", "--btf", f"{kfuncs_obj}.BTF.1", str(kfuncs_obj)],
                       capsys)
    assert rc == 0
    assert "WARN: " in err
    assert Path(f"{kfuncs_obj}.BTF").exists() and Path(f"{kfuncs_obj}.BTF_ids").exists()


def one_line_failure(argv: list[str], capsys: pytest.CaptureFixture[str], obj: Path,
                     start: str) -> None:
    before = obj.read_bytes() if obj.exists() else b""
    rc, err = run_ours(argv, capsys)
    assert rc == 255 and err.count("\n") == 1 and err.startswith(start), err
    assert "Traceback" not in err
    if before:
        assert obj.read_bytes() == before
    for suffix in (".BTF", ".BTF_ids", ".BTF.base"):
        assert not Path(f"{obj}{suffix}").exists(), suffix


def test_bad_inputs(tmp_path: Path, gcc: str, capsys: pytest.CaptureFixture[str]) -> None:
    obj = compile_c(gcc, KFUNCS_C, tmp_path / "k.o")
    one_line_failure(["--btf", f"{obj}.BTF.1", str(obj)], capsys, obj,
                     f"FAILED: load BTF from {obj}.BTF.1: ")
    Path(f"{obj}.BTF.1").write_bytes(b"\x9f\xeb junk")
    one_line_failure(["--btf", f"{obj}.BTF.1", str(obj)], capsys, obj,
                     f"FAILED: load BTF from {obj}.BTF.1: ")
    detached_btf(obj)
    one_line_failure(["--distill_base", "-b", str(tmp_path / "nope"), "--btf", f"{obj}.BTF.1",
                      str(obj)], capsys, obj, f"FAILED: load base BTF from {tmp_path / 'nope'}")
    # split BTF tagging a function of its base cannot be distilled (libbpf refuses it too)
    base, ids = model_btf()
    split = Btf(base)
    split.add(DeclTag(split.add_str("tag"), ids["do_a"], -1))
    (tmp_path / "base.btf").write_bytes(encode(base))
    plain = compile_c(gcc, "int f(int a) { return a; }\n", tmp_path / "plain.o")
    Path(f"{plain}.BTF.1").write_bytes(encode(split))
    one_line_failure(["--distill_base", "-b", str(tmp_path / "base.btf"), "--btf",
                      f"{plain}.BTF.1", str(plain)], capsys, plain,
                     "FAILED to distill base BTF: type [")
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"not an ELF file")
    shutil.copy(f"{obj}.BTF.1", f"{junk}.BTF.1")
    one_line_failure(["--btf", f"{junk}.BTF.1", str(junk)], capsys, junk, "FAILED ")


def test_inconsistent_kfunc_flags_fail(tmp_path: Path, gcc: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    src = """#include "btf_ids_test.h"
int bpf_twice(int a) { return a; }
BTF_KFUNCS_START(one)
BTF_ID_FLAGS(func, bpf_twice, 1)
BTF_KFUNCS_END(one)
BTF_KFUNCS_START(two)
BTF_ID_FLAGS(func, bpf_twice, 2)
BTF_KFUNCS_END(two)
int use(void) { return one.cnt + two.cnt; }
"""
    obj = compile_c(gcc, src, tmp_path / "twice.o")
    detached_btf(obj)
    # sets are visited in descending name order: 'two' first
    one_line_failure(["--btf", f"{obj}.BTF.1", str(obj)], capsys, obj,
                     "ERROR: resolve_btfids: kfunc bpf_twice has inconsistent flags across BTF "
                     "ID sets: 0x2 != 0x1")


def test_arena_return_that_is_no_pointer_fails(tmp_path: Path, gcc: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    src = """#include "btf_ids_test.h"
int bpf_arena_int(int a) { return a; }
BTF_KFUNCS_START(arena)
BTF_ID_FLAGS(func, bpf_arena_int, (1 << 13))
BTF_KFUNCS_END(arena)
int use(void) { return arena.cnt; }
"""
    obj = compile_c(gcc, src, tmp_path / "arena.o")
    detached_btf(obj)
    one_line_failure(["--btf", f"{obj}.BTF.1", str(obj)], capsys, obj,
                     "ERROR: resolve_btfids: kfunc bpf_arena_int: arena type is not a pointer")


def test_files_are_replaced_atomically(kfuncs_obj: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """An existing output keeps its mode; no temporary file is left behind."""
    out = Path(f"{kfuncs_obj}.BTF")
    out.write_bytes(b"old")
    out.chmod(0o640)
    assert run_ours(["--btf", f"{kfuncs_obj}.BTF.1", str(kfuncs_obj)], capsys)[0] == 0
    assert out.read_bytes()[:2] == b"\x9f\xeb" and (out.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in kfuncs_obj.parent.iterdir() if p.name.startswith(".")) == []


# -- Debian 6.1's nf_conntrack.ko ----------------------------------------------------------------


def described(btf: Btf, tid: int) -> tuple[Kind, str] | None:
    if tid == 0:
        return None
    t: BtfType = btf.type(tid)
    return t.kind, btf.name(t)


@pytest.mark.realkernel
@pytest.mark.parametrize("distill", [False, True])
def test_nf_conntrack(linux61: Path, vmlinux61: Path, tmp_path: Path, distill: bool,
                      capsys: pytest.CaptureFixture[str]) -> None:
    """The module's shipped BTF as pahole's detached output, its .BTF_ids as compiled: every slot
    and every set of the section written stands for the same types as the shipped section."""
    ko = linux61 / "modules" / "nf_conntrack.ko"
    vmlinux = load(vmlinux61)
    shipped_btf = load(ko, vmlinux)
    work = tmp_path / "nf_conntrack.ko"
    _, size, shipped = reset_copy(ko, work, shipped_btf)
    from btfbuild.btf.elf import read_btf_sections

    Path(f"{work}.BTF.1").write_bytes(read_btf_sections(ko).btf or b"")
    argv = ["-b", str(vmlinux61), "--btf", f"{work}.BTF.1", str(work)]
    assert run_ours(["--distill_base", *argv] if distill else argv, capsys) == (0, "")

    base = read_split(Path(f"{work}.BTF.base")) if distill else vmlinux
    btf = read_split(Path(f"{work}.BTF"), base)
    assert validate(btf) == []
    assert_sorted_by_name(btf)
    mine = Path(f"{work}.BTF_ids").read_bytes()
    assert len(mine) == size

    _, _, _, syms = readelf_btf_ids(ko)
    in_sets: set[int] = set()
    for soff, _, name in syms:
        if not name.startswith("__BTF_ID__set"):
            continue
        set8 = name.startswith("__BTF_ID__set8__")
        head, width = (8, 8) if set8 else (4, 4)
        cnt = u32s(shipped, soff, 1)[0]
        assert u32s(mine, soff, head // 4) == u32s(shipped, soff, head // 4)
        members: list[Counter[object]] = []
        for data, model in ((shipped, shipped_btf), (mine, btf)):
            entries = [tuple(u32s(data, p, width // 4))
                       for p in range(soff + head, soff + head + width * cnt, width)]
            members.append(Counter((described(model, e[0]), *e[1:]) for e in entries))
        assert members[0] == members[1], name
        in_sets.update(range(soff, soff + head + width * cnt, 4))
    for word in range(0, size, 4):
        if word not in in_sets:
            old, new = u32s(shipped, word, 1)[0], u32s(mine, word, 1)[0]
            assert described(shipped_btf, old) == described(btf, new), word
    assert Path(f"{work}.BTF.base").exists() == distill
    # put into the module as gen-btf.sh does, the BTF is read over vmlinux (relocated when
    # distilled) and the kernel's rules accept it
    done = load(embed(work, tmp_path / "embedded.ko"), vmlinux)
    assert done.find("nf_conn", Kind.STRUCT) is not None and validate(done) == []


# -- which kernel, which tool --------------------------------------------------------------------


def vermagic(release: str) -> str:
    """C for a module's ``.modinfo`` entries, as modpost writes them, for kernel *release*."""
    return "".join(
        f'static const char __mi_{i}[] __attribute__((section(".modinfo"), used, aligned(1))) = '
        f'"{entry}";\n' for i, entry in enumerate(
            ["license=GPL", f"vermagic={release} SMP preempt mod_unload ", "name=mod"]))


def version_of(obj: Path) -> tuple[int, int] | None:
    with open(obj, "rb") as f:
        layout = read_layout(f, str(obj))
        return kernel_version(f.fileno(), layout)


def test_kernel_version_of_a_module(tmp_path: Path, gcc: str) -> None:
    obj = compile_c(gcc, "int f(int a) { return a; }\n" + vermagic("7.2.13"), tmp_path / "m.ko")
    assert version_of(obj) == (7, 2)


def test_kernel_version_from_linux_banner(tmp_path: Path, gcc: str) -> None:
    """init/version.c's banner, read at the symbol's place in its section; other symbols whose
    names end alike, or strings that look like it, do not count."""
    src = r"""
const char not_linux_banner[] = "Linux version 9.9.9 (decoy)\n";
const char other[] = "Linux version 8.8.8";
const char linux_banner[] = "Linux version 7.3.0-rc1 (builder@host) (gcc) #1 SMP\n";
int f(int a) { return a + linux_banner[a] + not_linux_banner[a] + other[a]; }
"""
    obj = compile_c(gcc, src, tmp_path / "vmlinux.o")
    assert version_of(obj) == (7, 3)
    # vmlinux keeps the built-in modules' .modinfo, without any vermagic: the banner decides
    builtin = ('static const char __mi[] __attribute__((section(".modinfo"), used)) = '
               '"ext4.license=GPL";\n')
    obj = compile_c(gcc, src + builtin, tmp_path / "vmlinux2.o")
    assert version_of(obj) == (7, 3)
    plain = compile_c(gcc, "int f(int a) { return a; }\n", tmp_path / "plain.o")
    assert version_of(plain) is None


def test_parse_release() -> None:
    assert parse_release(b"7.2.13 SMP preempt") == (7, 2)
    assert parse_release(b"6.1.0-56-amd64 SMP") == (6, 1)
    assert parse_release(b"7.3-rc1") == (7, 3)
    assert parse_release(b"6.19.0+") == (6, 19)
    assert parse_release(b"banana") is None and parse_release(b"7") is None
    assert parse_release(b"7.x") is None


def test_which_tool() -> None:
    assert released_tool((6, 19)) and released_tool((7, 2)) and released_tool((6, 1))
    assert not released_tool((7, 3)) and not released_tool((8, 0)) and not released_tool(None)


def test_released_tool(tmp_path: Path, gcc: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A 7.2 module: the kfuncs are those pahole tagged, only KF_IMPLICIT_ARGS is handled; no
    decl tags added, no arena attributes, no dedup (the input's types and strings stay, in
    place before the sort, and the new ones follow)."""
    obj = compile_c(gcc, KFUNCS_C + vermagic("7.2.13"), tmp_path / "kfuncs.ko")
    detached_btf(obj, features="default")  # decl_tag_kfuncs: as kbuild runs pahole for 7.2
    pre = read_split(Path(f"{obj}.BTF.1"))
    rc, err = run_ours(["--btf", f"{obj}.BTF.1", str(obj)], capsys)
    assert rc == 0
    # bpf-next's kfunc-set warnings are not the released tool's
    warns = err.splitlines()
    assert "WARN: resolve_btfids: unresolved symbol bpf_nowhere" in warns
    assert not [w for w in warns if "kfunc" in w or "no BTF ID symbol" in w]
    res = generate(str(obj), btf=f"{obj}.BTF.1", write=False)
    assert (res.kernel, res.released) == ((7, 2), True)
    btf = res.btf
    assert Path(f"{obj}.BTF").read_bytes() == raw.encode(btf)
    assert validate(btf) == []
    assert_sorted_by_name(btf)
    # the tags are pahole's, one each
    for name in KFUNCS:
        want = ["bpf_kfunc"] + (["bpf_fastcall"] if name in ("bpf_fast", "bpf_implicit") else [])
        assert tags_of(btf, the_func(btf, name)[0]) == sorted(want), name
    # KF_IMPLICIT_ARGS as in bpf-next's tool
    assert param_names(btf, "bpf_implicit") == ["a", "t"]
    assert param_names(btf, "bpf_implicit_impl") == ["a", "t", "aux"]
    assert tags_of(btf, the_func(btf, "bpf_implicit_impl")[0]) == ["bpf_fastcall"]
    assert param_names(btf, "bpf_meta") == ["a"]
    assert param_names(btf, "bpf_legacy") == ["a"] and len(funcs_named(btf, "bpf_legacy_impl")) == 1
    # no arena attributes
    assert not any(isinstance(t, TypeTag) for _, t in btf)
    assert not is_arena_pointer(btf, proto_of(btf, "bpf_arena_alloc").ret_type_id)
    # no dedup: the strings are the input's and the new names after them; the types are the
    # input's plus, per kfunc, _impl FUNC, copied tags and prototype: bpf_implicit 3, bpf_meta
    # 2, bpf_legacy 1 (its _impl is the source's)
    assert btf.strings.data.startswith(pre.strings.data)
    assert btf.strings.data[len(pre.strings.data):].split(b"\0")[:-1] == [
        b"bpf_implicit_impl", b"bpf_meta_impl"]
    assert len(btf) == len(pre) + 6
    kinds = Counter(t.kind for _, t in btf)
    assert kinds - Counter(t.kind for _, t in pre) == Counter(
        {Kind.FUNC: 2, Kind.DECL_TAG: 1, Kind.FUNC_PROTO: 3})


def test_released_tool_finds_kfuncs_by_their_tags(tmp_path: Path, gcc: str) -> None:
    """Without pahole's decl_tag_kfuncs, the released tool knows no kfunc; bpf-next's finds
    them in the kfunc sets."""
    obj = compile_c(gcc, KFUNCS_C + vermagic("6.19.3"), tmp_path / "kfuncs.ko")
    detached_btf(obj)
    res = generate(str(obj), btf=f"{obj}.BTF.1", write=False)
    assert res.released and param_names(res.btf, "bpf_implicit") == ["a", "t", "aux"]
    assert not funcs_named(res.btf, "bpf_implicit_impl")
    assert tags_of(res.btf, the_func(res.btf, "bpf_plain")[0]) == []


def test_bpf_next_tool_for_73_and_unknown(tmp_path: Path, gcc: str) -> None:
    """7.3+ and objects that name no kernel: decl tags added, arena attributes, dedup."""
    for i, release in enumerate(["7.3.0", None]):
        src = KFUNCS_C + (vermagic(release) if release else "")
        obj = compile_c(gcc, src, tmp_path / f"kfuncs{i}.ko")
        detached_btf(obj, features="default")
        res = generate(str(obj), btf=f"{obj}.BTF.1", write=False)
        assert not res.released
        assert res.kernel == ((7, 3) if release else None)
        btf = res.btf
        assert tags_of(btf, the_func(btf, "bpf_fast")[0]) == ["bpf_fastcall", "bpf_kfunc"]
        assert is_arena_pointer(btf, proto_of(btf, "bpf_arena_alloc").ret_type_id)
        assert param_names(btf, "bpf_implicit") == ["a", "t"]


def header_len(path: Path) -> int:
    return u32s(path.read_bytes()[:8], 4, 1)[0]


@pytest.mark.parametrize(("release", "expected"), [("7.2.13", 32), ("7.1.4", 24), ("7.3.0", 24),
                                                   (None, 24)])
def test_distilled_header_length(tmp_path: Path, gcc: str, capsys: pytest.CaptureFixture[str],
                                 release: str | None, expected: int) -> None:
    """7.2's libbpf writes the 32-byte header (with layout_off/layout_len) for the BTF that
    btf__distill_base() makes; output that is not distilled keeps pahole's 24 bytes."""
    base_obj = compile_c(gcc, BASE_C, tmp_path / "vmlinux.o")
    base = tmp_path / "vmlinux.btf"
    assert pahole_main(["-J", f"--btf_encode_detached={base}", str(base_obj)]) == 0
    mod = compile_c(gcc, MODULE_C + (vermagic(release) if release else ""), tmp_path / "mod.ko")
    detached_btf(mod, base=base, features="default")
    argv = ["-b", str(base), "--btf", f"{mod}.BTF.1", str(mod)]
    assert run_ours(["--distill_base", *argv], capsys) == (0, "")
    out, out_base = Path(f"{mod}.BTF"), Path(f"{mod}.BTF.base")
    assert (header_len(out), header_len(out_base)) == (expected, expected)
    assert out.read_bytes()[24:expected] == bytes(expected - 24)  # layout_off, layout_len: 0
    distilled = read_split(out_base)
    btf = read_split(out, distilled)
    assert validate(btf) == []
    assert param_names(btf, "mod_kfunc") == ["s"]  # KF_IMPLICIT_ARGS, both tools
    relocated = load(embed(mod, tmp_path / "done.ko"), load(base))
    assert relocated.find("mod_state", Kind.STRUCT) is not None and validate(relocated) == []
    out_base.unlink()
    assert run_ours(argv, capsys) == (0, "")
    assert header_len(out) == 24


def test_header_length_of_the_writer() -> None:
    b = Btf()
    b.add(Int(b.add_str("int"), 4, IntEncoding.SIGNED, 0, 32))
    long = raw.encode(b, header_len=32)
    assert long[32:] == raw.encode(b)[24:] and header_len_of(long) == 32
    assert canonical(raw.parse(long)) == canonical(b)
    with pytest.raises(ValueError, match="header length"):
        raw.encode(b, header_len=28)


def header_len_of(data: bytes) -> int:
    return int.from_bytes(data[4:8], "little")
