"""The encoder on Debian's 6.1 vmlinux and modules against pahole 1.30 with kbuild's flags.

vmlinux, and each module split over vmlinux's BTF (``--btf_base``), must describe the same
types, layouts, functions and variables as pahole's output (``btfbuild.diff``) and hold the same
number of types of each kind (so no extra anonymous prototypes hide behind the named ones).
With ``distilled_base`` (what kbuild passes for out-of-tree modules), the module gets ``.BTF``
and ``.BTF.base`` like pahole's, and relocating it onto vmlinux gives the plain split BTF back.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from btfbuild.btf import load
from btfbuild.btf.elf import read_btf_sections
from btfbuild.btf.model import Btf
from btfbuild.check import validate
from btfbuild.diff import diff
from tests.conftest import MODULES

pytestmark = pytest.mark.realkernel

KBUILD = ("--btf_features=encode_force,var,float,enum64,decl_tag,type_tag,optimized_func,"
          "consistent_func,decl_tag_kfuncs")


def kinds(btf: Btf) -> Counter[str]:
    return Counter(type(t).__name__ for _, t in btf)


def assert_same(theirs: Btf, mine: Btf) -> None:
    d = diff(theirs, mine)
    assert not d, "\n".join([f"- {k}: {t}" for k, t in d.only_a[:20]]
                            + [f"+ {k}: {t}" for k, t in d.only_b[:20]])
    assert kinds(mine) == kinds(theirs)


def run_ours(*args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "btfbuild.fronts.pahole", *args],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def base61(vmlinux61: Path) -> Btf:
    return load(vmlinux61)


def test_vmlinux_matches_pahole(pahole130: Path, vmlinux61: Path, base61: Btf,
                                tmp_path: Path) -> None:
    mine = tmp_path / "ours.btf"
    run_ours("-J", "-j2", KBUILD, f"--btf_encode_detached={mine}", str(vmlinux61))
    theirs = tmp_path / "pahole.btf"
    subprocess.run([str(pahole130), "-J", "-j2", KBUILD, f"--btf_encode_detached={theirs}",
                    str(vmlinux61)], check=True, capture_output=True)
    ours_btf = load(mine)
    assert_same(load(theirs), ours_btf)
    # Debian's own vmlinux BTF was made by pahole 1.24 from the same DWARF: same named types
    assert validate(ours_btf) == []


def datasecs(btf: Btf) -> dict[str, tuple[int, list[tuple[str, int, int]]]]:
    """Each DATASEC's size and its (variable, offset, size) entries, in order."""
    return {btf.name(t): (t.size, [(btf.name(btf.type(v.type_id)), v.offset, v.size)
                                   for v in t.vars])
            for _, t in btf.all_types() if t.kind.name == "DATASEC"}


def test_vmlinux_global_var_matches_pahole(pahole130: Path, vmlinux61: Path,
                                           tmp_path: Path) -> None:
    """``global_var``: every global variable (23,709 on this vmlinux, in 13 sections)."""
    flags = KBUILD + ",global_var"
    mine, theirs = tmp_path / "ours.btf", tmp_path / "pahole.btf"
    run_ours("-J", "-j2", flags, f"--btf_encode_detached={mine}", str(vmlinux61))
    subprocess.run([str(pahole130), "-J", "-j2", flags, f"--btf_encode_detached={theirs}",
                    str(vmlinux61)], check=True, capture_output=True)
    ours_btf, pahole_btf = load(mine), load(theirs)
    assert_same(pahole_btf, ours_btf)
    assert kinds(ours_btf)["Var"] > 20000
    assert datasecs(ours_btf) == datasecs(pahole_btf)


def test_module_global_var_matches_pahole(pahole130: Path, linux61: Path, vmlinux61: Path,
                                          base61: Btf, tmp_path: Path) -> None:
    """A module's variables with ``global_var``: the same, but for the ELF notes, which pahole
    files under a DATASEC named ``.debug_info`` (see docs-encoder-differences.md)."""
    flags = KBUILD + ",global_var"
    ko = linux61 / "modules" / "ext4.ko"
    mine, theirs = tmp_path / "ours.btf", tmp_path / "pahole.btf"
    run_ours("-J", flags, "--btf_base", str(vmlinux61), f"--btf_encode_detached={mine}", str(ko))
    subprocess.run([str(pahole130), "-J", flags, "--btf_base", str(vmlinux61),
                    f"--btf_encode_detached={theirs}", str(ko)], check=True, capture_output=True)
    ours_secs, pahole_secs = datasecs(load(mine, base61)), datasecs(load(theirs, base61))
    notes = pahole_secs.pop(".debug_info")
    assert ours_secs.pop(".note.Linux")[1] == [(n, o - notes[1][0][1], s) for n, o, s in notes[1]]
    assert ours_secs == pahole_secs
    assert sum(len(v) for _, v in ours_secs.values()) > 1000


@pytest.mark.parametrize("module", MODULES)
def test_module_split_matches_pahole(pahole130: Path, linux61: Path, vmlinux61: Path,
                                     base61: Btf, tmp_path: Path, module: str) -> None:
    ko = linux61 / "modules" / f"{module}.ko"
    mine, theirs = tmp_path / "ours.btf", tmp_path / "pahole.btf"
    run_ours("-J", KBUILD, "--btf_base", str(vmlinux61), f"--btf_encode_detached={mine}",
             str(ko))
    subprocess.run([str(pahole130), "-J", KBUILD, "--btf_base", str(vmlinux61),
                    f"--btf_encode_detached={theirs}", str(ko)], check=True, capture_output=True)
    ours_btf = load(mine, base61)
    assert ours_btf.start_id == base61.type_count
    assert_same(load(theirs, base61), ours_btf)
    assert validate(ours_btf) == []


@pytest.mark.parametrize("module", MODULES)
def test_module_distilled_matches_pahole(pahole130: Path, linux61: Path, vmlinux61: Path,
                                         base61: Btf, tmp_path: Path, module: str) -> None:
    src = linux61 / "modules" / f"{module}.ko"
    mine, theirs = tmp_path / "ours" / src.name, tmp_path / "pahole" / src.name
    for dst in (mine, theirs):
        dst.parent.mkdir()
        shutil.copyfile(src, dst)
    run_ours("-J", KBUILD, "--btf_features=+distilled_base", "--btf_base", str(vmlinux61),
             str(mine))
    subprocess.run([str(pahole130), "-J", KBUILD + ",distilled_base", "--btf_base",
                    str(vmlinux61), str(theirs)], check=True, capture_output=True)
    ours_secs, their_secs = read_btf_sections(mine), read_btf_sections(theirs)
    assert ours_secs.base is not None and their_secs.base is not None
    # each over its own .BTF.base: same distilled base types and split types
    ours_btf, their_btf = load(mine), load(theirs)
    assert ours_btf.base is not None and their_btf.base is not None
    assert_same(their_btf.base, ours_btf.base)
    assert_same(their_btf, ours_btf)
    # relocated onto the vmlinux it was built against: the same as plain split encoding
    assert_same(load(theirs, base61), load(mine, base61))
    # nothing but the BTF sections changed
    assert other_sections(mine) == other_sections(src)


def other_sections(path: Path) -> dict[str, bytes]:
    from elftools.elf.elffile import ELFFile

    with path.open("rb") as f:
        elf = ELFFile(f)
        return {s.name: s.data() for s in elf.iter_sections()
                if s.name not in (".BTF", ".BTF.base", ".shstrtab")
                and s["sh_type"] != "SHT_NOBITS"}


@pytest.mark.parametrize("module", MODULES)
def test_native_distill_is_the_model_distill(linux61: Path, vmlinux61: Path, base61: Btf,
                                            module: str) -> None:
    """The encoder distills natively; the Python model's distill (btfbuild distill) must give
    the same bytes from the plain split encoding."""
    from btfbuild.btf import encode
    from btfbuild.btf.distill import distill_base
    from btfbuild.encoder import encode_file
    from btfbuild.features import Features

    ko = linux61 / "modules" / f"{module}.ko"
    feats = Features()
    feats.apply("default")
    plain = encode_file(ko, feats, base=vmlinux61)
    assert plain.distilled_base is None
    feats.distilled_base = True
    native = encode_file(ko, feats, base=vmlinux61)
    assert native.distilled_base is not None
    new_base, new_split = distill_base(load_raw(plain.raw, base61))
    assert encode(new_base) == native.distilled_base
    assert encode(new_split) == native.raw


def load_raw(data: bytes, base: Btf) -> Btf:
    from btfbuild.btf import raw

    return raw.parse(data, base)


def test_vmlinux_output_is_the_same_for_any_thread_count(vmlinux61: Path) -> None:
    """2,352 compile units are converted by the workers in whatever order they finish and
    merged in section order: the bytes must not depend on the number of threads."""
    from btfbuild.encoder import encode_file
    from btfbuild.features import Features

    feats = Features()
    feats.apply("default,global_var")
    outs = {j: encode_file(vmlinux61, feats, threads=j).raw for j in (1, 2, 5)}
    assert outs[1] == outs[2] == outs[5]
