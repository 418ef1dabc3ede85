"""Shared fixtures: the real-kernel data and oracle tools fetched by ``scripts/fetch-testdata``.

Tests that need them are marked ``realkernel``. When the data is missing they are skipped, unless
``BTFBUILD_REQUIRE_REALDATA=1`` (as CI sets it), where missing data is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

MODULES = ("fou", "e1000e", "ext4", "btrfs", "nf_conntrack")


def cache_dir() -> Path:
    return Path(os.environ.get("BTFBUILD_CACHE", Path.home() / ".cache" / "btfbuild"))


def _need(path: Path, what: str) -> Path:
    if path.exists():
        return path
    msg = f"{what} missing at {path}: run scripts/fetch-testdata"
    if os.environ.get("BTFBUILD_REQUIRE_REALDATA") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def linux61() -> Path:
    """Directory with Debian 6.1's ``vmlinux`` and ``modules/<name>.ko``."""
    d = cache_dir() / "linux-6.1"
    _need(d / "vmlinux", "Debian 6.1 vmlinux")
    return d


@pytest.fixture(scope="session")
def vmlinux61(linux61: Path) -> Path:
    return linux61 / "vmlinux"


@pytest.fixture(scope="session")
def bpftool75() -> Path:
    """bpftool 7.5 (trixie), the oracle for dump formats."""
    return _need(cache_dir() / "trixie" / "bin" / "bpftool", "bpftool 7.5")


@pytest.fixture(scope="session")
def pahole130() -> Path:
    return _need(cache_dir() / "trixie" / "bin" / "pahole", "pahole 1.30")


@pytest.fixture(scope="session")
def kernel_source() -> Path:
    """Debian's linux-source-6.12 tree (``scripts/fetch-testdata --only source``)."""
    return _need(cache_dir() / "linux-source-6.12" / "Makefile", "linux-source-6.12").parent


@pytest.fixture(scope="session")
def sysfs_vmlinux() -> Path:
    p = Path("/sys/kernel/btf/vmlinux")
    if not p.exists():
        pytest.skip("this machine's kernel exposes no /sys/kernel/btf/vmlinux")
    return p


@pytest.fixture(scope="session")
def clang() -> str:
    path = shutil.which("clang")
    if path is None:
        if os.environ.get("BTFBUILD_REQUIRE_REALDATA") == "1":
            pytest.fail("clang not installed")
        pytest.skip("clang not installed")
    return path


def empty_elf(path: Path, size: int = 4) -> Path:
    """Make *path* a relocatable x86-64 ELF object holding *size* zero bytes of data (objcopy of
    a binary blob), for tests that edit sections; skips when GNU objcopy is missing."""
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        pytest.skip("GNU objcopy not installed")
    blob = path.with_name(path.name + ".blob")
    blob.write_bytes(b"\0" * size)
    subprocess.run([objcopy, "-I", "binary", "-O", "elf64-x86-64", "-B", "i386:x86-64",
                    str(blob), str(path)], check=True)
    blob.unlink()
    return path
