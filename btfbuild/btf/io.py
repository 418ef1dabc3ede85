"""Loading BTF from whatever a user names: raw BTF files, ``/sys/kernel/btf/*`` or ELF files."""

from __future__ import annotations

from pathlib import Path

from ..errors import BtfbuildError, BtfFormatError, ElfError
from . import raw
from .elf import is_elf, read_btf_sections
from .model import Btf


def load(path: str | Path, base: Btf | None = None) -> Btf:
    """Load the BTF in *path*; *base* is the base of split BTF.

    An ELF module with a ``.BTF.base`` section is split over that distilled base when no *base*
    is given. Errors carry the file name and what is wrong.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BtfbuildError(f"{path}: {exc.strerror or exc}") from None
    if not data:
        raise BtfFormatError(f"{path}: empty file")
    try:
        if is_elf(data):
            return _load_elf(path, base)
        return raw.parse(data, base)
    except BtfFormatError as exc:
        raise BtfFormatError(f"{path}: {exc}") from None


def _load_elf(path: Path, base: Btf | None) -> Btf:
    secs = read_btf_sections(path)
    if secs.btf is None:
        raise ElfError(f"{path}: no .BTF section")
    if secs.base is not None:
        try:
            distilled = raw.parse(secs.base)
        except BtfFormatError as exc:
            raise BtfFormatError(f".BTF.base: {exc}") from None
        if base is not None:
            raise BtfbuildError(
                f"{path}: has a distilled base (.BTF.base); relocating it onto another base "
                "is not supported yet — drop -B to read it over its own .BTF.base"
            )
        return _parse_section(secs.btf, distilled)
    return _parse_section(secs.btf, base)


def _parse_section(data: bytes, base: Btf | None) -> Btf:
    try:
        return raw.parse(data, base)
    except BtfFormatError as exc:
        raise BtfFormatError(f".BTF: {exc}") from None


def load_base(spec: str | Path) -> Btf:
    """Load a base BTF (vmlinux ELF, raw BTF or /sys/kernel/btf/vmlinux)."""
    return load(spec)
