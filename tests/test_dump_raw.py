"""``btfbuild dump`` raw and JSON formats, judged by bpftool 7.5 on the same files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from btfbuild.btf import encode
from tests.btfgen import every_kind
from tests.conftest import MODULES

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample.bpf.c"


def btfbuild(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "btfbuild", *map(str, args)],
                          capture_output=True, text=True, check=check)


def bpftool(tool: Path, *args: str | Path) -> str:
    return subprocess.run([str(tool), *map(str, args)], capture_output=True, text=True,
                          check=True).stdout


def assert_same_raw(tool: Path, path: Path, base: Path | None = None) -> str:
    ours = btfbuild("dump", path, *(["-B", base] if base else [])).stdout
    theirs = bpftool(tool, *(["-B", base] if base else []), "btf", "dump", "file", path)
    assert ours == theirs
    return ours


@pytest.mark.parametrize("endian", ["little", "big"])
def test_every_kind_matches_bpftool(bpftool75: Path, tmp_path: Path, endian: str) -> None:
    f = tmp_path / f"every-{endian}.btf"
    f.write_bytes(encode(every_kind(), endian))  # type: ignore[arg-type]
    text = assert_same_raw(bpftool75, f)
    assert "ENUM64 'swide' encoding=SIGNED" in text and "bitfield_size=5" in text


def test_clang_bpf_object_matches_bpftool(bpftool75: Path, clang: str, tmp_path: Path) -> None:
    obj = tmp_path / "sample.bpf.o"
    subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-c", str(EXAMPLE), "-o", str(obj)],
                   check=True)
    text = assert_same_raw(bpftool75, obj)
    assert "DATASEC '.bss'" in text and "DECL_TAG 'arg'" in text


def test_sysfs_vmlinux_matches_bpftool(bpftool75: Path, sysfs_vmlinux: Path) -> None:
    assert_same_raw(bpftool75, sysfs_vmlinux)


@pytest.mark.realkernel
def test_debian_vmlinux_and_split_modules_match_bpftool(bpftool75: Path, linux61: Path) -> None:
    vmlinux = linux61 / "vmlinux"
    assert_same_raw(bpftool75, vmlinux)
    for name in MODULES:
        text = assert_same_raw(bpftool75, linux61 / "modules" / f"{name}.ko", vmlinux)
        first_id = int(text.split("]", 1)[0].lstrip("["))
        assert first_id > 100_000  # ids continue after the base


def _unsign_enum32(doc: dict[str, Any]) -> dict[str, Any]:
    """bpftool prints an unsigned 32-bit enum value >= 2**31 sign-extended to 64 bits in JSON;
    we print the value itself. Undo bpftool's quirk so the rest is compared strictly."""
    for t in doc["types"]:
        if t["kind"] == "ENUM" and t["encoding"] == "UNSIGNED":
            for v in t["values"]:
                v["val"] &= 0xFFFFFFFF
    return doc


def test_json_matches_bpftool(bpftool75: Path, sysfs_vmlinux: Path, tmp_path: Path) -> None:
    f = tmp_path / "every.btf"
    f.write_bytes(encode(every_kind()))
    for path in (f, sysfs_vmlinux):
        ours = json.loads(btfbuild("dump", path, "--format", "json").stdout)
        theirs = json.loads(bpftool(bpftool75, "-j", "btf", "dump", "file", path))
        assert ours == _unsign_enum32(theirs)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\x9f\xeb\x01", "truncated header"),
        (b"hello world, not BTF at all", "bad magic"),
        (b"\x9f\xeb\x01\x00\x18\x00\x00\x00" + b"\x00" * 4 + b"\xff" * 4 + b"\x00" * 8,
         "type section"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, content: bytes, message: str) -> None:
    f = tmp_path / "bad.btf"
    f.write_bytes(content)
    r = btfbuild("dump", f, check=False)
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and str(f) in lines[0] and message in lines[0]


def test_missing_file_and_elf_without_btf(tmp_path: Path) -> None:
    r = btfbuild("dump", tmp_path / "nope", check=False)
    assert r.returncode == 1 and "No such file" in r.stderr and "Traceback" not in r.stderr
    r = btfbuild("dump", "/bin/sh", check=False)
    assert r.returncode == 1 and r.stderr.strip() == "btfbuild: /bin/sh: no .BTF section"


def test_bad_arguments_exit_2() -> None:
    r = btfbuild("dump", "--format", "xml", "x", check=False)
    assert r.returncode == 2 and "invalid choice" in r.stderr
