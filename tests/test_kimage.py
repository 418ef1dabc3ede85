"""Base BTF from what a module builder has of a kernel: raw BTF, a vmlinux ELF, or a compressed
kernel image (``btfbuild base-btf``, ``--btf_base vmlinuz``)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from btfbuild.btf import Btf, encode
from btfbuild.btf.types import Int, IntEncoding, Ptr
from btfbuild.elfwrite import set_sections
from btfbuild.kimage import KernelImageError, base_btf
from tests.conftest import empty_elf


def small_btf() -> bytes:
    b = Btf()
    b.add(Int(b.add_str("int"), 4, IntEncoding.SIGNED, 0, 32))
    b.add(Ptr(0, 1))
    return encode(b)


@pytest.fixture()
def vmlinux(tmp_path: Path) -> Path:
    """A small ELF file with a .BTF section, standing in for vmlinux."""
    elf = empty_elf(tmp_path / "vmlinux", 64)
    set_sections(elf, {".BTF": small_btf()})
    return elf


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ),
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    "bzip2": bz2.compress,
}


@pytest.mark.parametrize("fmt", sorted(COMPRESSORS))
def test_btf_from_compressed_image(tmp_path: Path, vmlinux: Path, fmt: str) -> None:
    # setup code in front, with magic bytes of each format that start no valid stream
    junk = b"MZ\x00setup" + b"\x1f\x8b\x08junk" + b"\xfd7zXZ\x00junk" + b"BZhjunk" + b"\x00" * 100
    image = tmp_path / "vmlinuz"
    image.write_bytes(junk + COMPRESSORS[fmt](vmlinux.read_bytes()) + b"\x00trailer")
    assert base_btf(image) == small_btf()


def test_btf_from_raw_and_elf(tmp_path: Path, vmlinux: Path) -> None:
    raw = tmp_path / "vmlinux.btf"
    raw.write_bytes(small_btf())
    assert base_btf(raw) == small_btf()
    assert base_btf(vmlinux) == small_btf()


def test_cli_writes_the_base(tmp_path: Path, vmlinux: Path) -> None:
    image = tmp_path / "bzImage"
    image.write_bytes(b"setup" + gzip.compress(vmlinux.read_bytes()))
    out = tmp_path / "base.btf"
    r = subprocess.run([sys.executable, "-m", "btfbuild", "base-btf", str(image), "-o", str(out)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == small_btf()


def test_no_btf_is_one_line_error(tmp_path: Path, vmlinux: Path) -> None:
    no_btf = tmp_path / "plain.elf"
    shutil.copyfile(vmlinux, no_btf)
    set_sections(no_btf, {".other": b"x"})
    subprocess.run(["objcopy", "--remove-section=.BTF", str(no_btf)], check=True)
    with pytest.raises(KernelImageError, match=r"no \.BTF section"):
        base_btf(no_btf)
    text = tmp_path / "notes.txt"
    text.write_bytes(b"just some text, no kernel here\n")
    with pytest.raises(KernelImageError, match="neither BTF"):
        base_btf(text)
    r = subprocess.run([sys.executable, "-m", "btfbuild", "base-btf", str(text), "-o",
                        str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "neither BTF" in r.stderr
    assert not (tmp_path / "out").exists()
