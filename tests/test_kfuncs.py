"""decl_tag_kfuncs: DECL_TAG bpf_kfunc / bpf_fastcall on the kfuncs of ``.BTF_ids`` kfunc sets.

A test object with the kernel's ``.BTF_ids`` layout (``tests/data/btf_ids_test.h``) is compiled
at test time, as a relocatable object (symbol values are section offsets) and as a linked
executable (addresses: ``.BTF_ids`` has a non-zero ``sh_addr``), and encoded by pahole 1.30 and by
us; the BTFs must be the same and carry exactly the expected tags. The e2e kernel build
(``scripts/e2e-kernel``), when present, is compared the same way.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from btfbuild.btf import load
from btfbuild.btf.model import Btf
from btfbuild.btf.types import DeclTag
from btfbuild.diff import diff
from btfbuild.kfuncs import func_name, read_kfuncs
from tests.conftest import cache_dir

DATA = Path(__file__).parent / "data"
KBUILD_FEATURES = ("encode_force,var,float,enum64,decl_tag,type_tag,optimized_func,"
                   "consistent_func,decl_tag_kfuncs")

KFUNCS_C = r"""
#include "btf_ids_test.h"
#define KF_ACQUIRE (1 << 0)
#define KF_FASTCALL (1 << 12)
#define NOINL __attribute__((noinline, used))

NOINL int kf_plain(int a) { return a + 1; }
NOINL int kf_fast(int a, int b) { return a * b; }
NOINL long kf_twice(long x) { return x - 3; }
NOINL int not_kfunc_set8(int a) { return a ^ 5; }
NOINL int not_kfunc_set(int a) { return a | 8; }
NOINL int not_kfunc_list(int a) { return a & 9; }
/* inlined everywhere: no symbol, so no FUNC and no tag */
static inline int kf_inlined(int a) { return a + 42; }
/* gcc keeps only kf_cp.constprop.0: a FUNC through optimized_func, but pahole 1.30 marks the
   ELF function of the exact name only, so no tag; clang keeps kf_cp itself: tagged */
static __attribute__((noinline)) int kf_cp(int a, int b) { return a * 3 + b; }
#ifdef __clang__
/* DWARF decl tags come after the kfunc tags; one equal to them is folded by dedup */
NOINL __attribute__((btf_decl_tag("other"), btf_decl_tag("bpf_kfunc")))
int kf_tagged(int a) { return a - 1; }
#endif

BTF_KFUNCS_START(kset1)
BTF_ID_FLAGS(func, kf_plain)
BTF_ID_FLAGS(func, kf_fast, KF_FASTCALL)
BTF_ID_FLAGS(func, kf_twice, KF_FASTCALL | KF_ACQUIRE)
BTF_ID_FLAGS(func, kf_missing, KF_FASTCALL)
BTF_ID_FLAGS(func, kf_inlined)
BTF_ID_FLAGS(func, kf_cp)
#ifdef __clang__
BTF_ID_FLAGS(func, kf_tagged, KF_FASTCALL)
#endif
BTF_KFUNCS_END(kset1)

/* not kfunc sets: a set8 without BTF_SET8_KFUNCS, a set, a list */
BTF_SET8_START(plain8)
BTF_ID_FLAGS(func, not_kfunc_set8, KF_FASTCALL)
BTF_SET8_END(plain8)

BTF_SET_START(plainset)
BTF_ID(func, not_kfunc_set)
BTF_SET_END(plainset)

BTF_ID_LIST(list)
BTF_ID(func, not_kfunc_list)

/* a kfunc in two sets keeps the flags of its last symbol: no bpf_fastcall for kf_twice */
BTF_KFUNCS_START(kset2)
BTF_ID_FLAGS(func, kf_twice, KF_ACQUIRE)
BTF_KFUNCS_END(kset2)

int use(int x) { return list[0] + plainset.cnt + plain8.cnt + kset1.cnt + kset2.cnt
                        + kf_inlined(x) + kf_cp(x, 7) + kf_cp(x + 1, 7); }
void kf_entry(void) {}
"""

EXPECTED = {
    "kf_plain": ["bpf_kfunc"],
    "kf_fast": ["bpf_kfunc", "bpf_fastcall"],
    "kf_twice": ["bpf_kfunc"],
}
EXPECTED_CLANG = {
    **EXPECTED,
    "kf_cp": ["bpf_kfunc"],
    "kf_tagged": ["bpf_kfunc", "bpf_fastcall", "other"],
}


def func_tags(btf: Btf) -> dict[str, list[str]]:
    """FUNC name -> its DECL_TAG values (component -1), in type id order."""
    out: dict[str, list[str]] = {}
    for _, t in btf:
        if isinstance(t, DeclTag) and t.component_idx == -1:
            out.setdefault(btf.name(t.type_id), []).append(btf.name(t))
    return out


def build(cc: str, tmp: Path, linked: bool) -> Path:
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} not installed")
    src = tmp / "kf.c"
    src.write_text(KFUNCS_C)
    out = tmp / ("kf" if linked else "kf.o")
    link = ["-nostdlib", "-static", "-Wl,-e,kf_entry"] if linked else ["-c"]
    subprocess.run([cc, "-g", "-O2", f"-I{DATA}", *link, str(src), "-o", str(out)], check=True)
    return out


def encode_both(pahole: Path, elf: Path, tmp: Path, features: str = KBUILD_FEATURES,
                *extra: str) -> tuple[Path, Path]:
    theirs, mine = tmp / f"{elf.name}.pahole.btf", tmp / f"{elf.name}.ours.btf"
    subprocess.run([str(pahole), "-J", f"--btf_features={features}",
                    f"--btf_encode_detached={theirs}", *extra, str(elf)],
                   check=True, capture_output=True)
    r = subprocess.run([sys.executable, "-m", "btfbuild.fronts.pahole", "-J",
                        f"--btf_features={features}", f"--btf_encode_detached={mine}", *extra,
                        str(elf)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    return theirs, mine


def assert_same(theirs: Btf, mine: Btf) -> None:
    d = diff(theirs, mine)
    assert not d, "\n".join([f"- {k}: {t}" for k, t in d.only_a[:20]]
                            + [f"+ {k}: {t}" for k, t in d.only_b[:20]])


@pytest.mark.parametrize("linked", [False, True], ids=["object", "linked"])
@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_kfunc_tags_match_pahole(pahole130: Path, tmp_path: Path, cc: str, linked: bool) -> None:
    elf = build(cc, tmp_path, linked)
    theirs, mine = encode_both(pahole130, elf, tmp_path)
    assert_same(load(theirs), load(mine))
    assert func_tags(load(mine)) == (EXPECTED_CLANG if cc == "clang" else EXPECTED)
    assert func_tags(load(theirs)) == func_tags(load(mine))


def test_kfunc_tags_need_decl_tag(pahole130: Path, tmp_path: Path) -> None:
    """Without decl_tag, pahole adds no kfunc tags (and no DWARF decl tags either)."""
    elf = build("gcc", tmp_path, linked=False)
    features = KBUILD_FEATURES.replace("decl_tag,", "")
    theirs, mine = encode_both(pahole130, elf, tmp_path, features)
    assert_same(load(theirs), load(mine))
    assert func_tags(load(mine)) == {}


def test_read_kfuncs(tmp_path: Path) -> None:
    for linked in (False, True):
        kf = dict(read_kfuncs(build("gcc", tmp_path, linked)))
        assert kf == {b"kf_plain": 0, b"kf_fast": 1 << 12, b"kf_twice": 1, b"kf_missing": 1 << 12,
                      b"kf_inlined": 0, b"kf_cp": 0}


def test_no_btf_ids_means_no_kfuncs(tmp_path: Path) -> None:
    src = tmp_path / "plain.c"
    src.write_text("int f(int a) { return a + 1; }\n")
    obj = tmp_path / "plain.o"
    subprocess.run(["gcc", "-g", "-c", str(src), "-o", str(obj)], check=True)
    assert read_kfuncs(obj) == []


@pytest.mark.parametrize(("symbol", "name"), [
    (b"__BTF_ID__func__vfs_close__1", b"vfs_close"),
    (b"__BTF_ID__func__a__b__12", b"a__b"),
    (b"__BTF_ID__func__x_1", None),
    (b"__BTF_ID__func___", None),
    (b"__BTF_ID__struct__task__3", None),
])
def test_func_name(symbol: bytes, name: bytes | None) -> None:
    assert func_name(symbol) == name


# -- the e2e kernel build (scripts/e2e-kernel), when it exists ----------------------------------

def e2e_build() -> Path:
    d = cache_dir() / "e2e" / "build-6.12"
    if not (d / "vmlinux").exists():
        # not _need(): CI builds it after the test tier, so it is never required here
        pytest.skip(f"no e2e kernel build at {d}: run scripts/e2e-kernel")
    return d


@pytest.mark.realkernel
def test_e2e_vmlinux_kfunc_tags_match_pahole(pahole130: Path, tmp_path: Path) -> None:
    build_dir = e2e_build()
    elf = build_dir / ".tmp_vmlinux1"
    if not elf.exists():
        elf = build_dir / "vmlinux"
    theirs, mine = encode_both(pahole130, elf, tmp_path, KBUILD_FEATURES, "-j2")
    a, b = load(theirs), load(mine)
    assert_same(a, b)
    tags = func_tags(b)
    assert tags == func_tags(a)
    kfuncs = {n.decode() for n, _ in read_kfuncs(elf)}
    tagged = {f for f, t in tags.items() if "bpf_kfunc" in t}
    assert tagged and tagged <= kfuncs


@pytest.mark.realkernel
def test_e2e_module_kfunc_tags_match_pahole(pahole130: Path, tmp_path: Path) -> None:
    build_dir = e2e_build()
    ko = cache_dir() / "e2e" / "modules" / "btfbuild_kfunc" / "btfbuild_kfunc.ko"
    if not ko.exists():
        pytest.skip(f"no {ko}: run scripts/e2e-kernel")
    vmlinux = build_dir / "vmlinux"
    theirs, mine = encode_both(pahole130, ko, tmp_path, KBUILD_FEATURES,
                               "--btf_base", str(vmlinux))
    base = load(vmlinux)
    a, b = load(theirs, base=base), load(mine, base=base)
    assert_same(a, b)
    expected = {"btfbuild_kfunc_add": ["bpf_kfunc"], "btfbuild_kfunc_task_pid": ["bpf_kfunc"]}
    assert func_tags(b) == expected  # the split BTF's own types
