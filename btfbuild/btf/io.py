"""Loading BTF from whatever a user names: raw BTF files, ``/sys/kernel/btf/*`` or ELF files."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from ..errors import BtfbuildError, BtfFormatError, ElfError
from . import raw
from .model import Btf
from .sanity import SanityLimits, sanity_check


def load(path: str | Path, base: Btf | None = None, *, sanity: bool = True) -> Btf:
    """Load the BTF in *path*; *base* is the base of split BTF.

    An ELF module with a ``.BTF.base`` section is split over that distilled base when no *base*
    is given, and relocated onto *base* when one is (as libbpf's ``btf__parse_split`` does);
    :class:`~btfbuild.btf.relocate.RelocationError` names the types that do not fit.
    With *sanity* (the default) names and type ids are checked as libbpf does before use; the
    validator turns it off to report every problem itself. Errors carry the file name and what
    is wrong.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(4)
            # an ELF file is read by its section headers: vmlinux with DWARF runs to 600 MB
            data = b"" if is_elf(head) else _read_rest(f, head)
    except OSError as exc:
        raise BtfbuildError(f"{path}: {exc.strerror or exc}") from None
    if not head:
        raise BtfFormatError(f"{path}: empty file")
    try:
        btf, limits = _load_elf(path, base) if is_elf(head) else raw.parse_with_limits(data, base)
        del data
        if sanity:
            sanity_check(btf, limits)
        return btf
    except BtfFormatError as exc:
        raise BtfFormatError(f"{path}: {exc}") from None


def _read_rest(f: BinaryIO, head: bytes) -> bytes:
    """The whole file whose first bytes *head* were read: read again from the start when it
    can seek (sparing a copy of megabytes), else appended to *head* (a pipe)."""
    try:
        f.seek(0)
    except OSError:
        return head + f.read()
    return f.read()


def is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def _load_elf(path: Path, base: Btf | None) -> tuple[Btf, SanityLimits | None]:
    """The BTF of an ELF file, with the reader's sanity limits when it is as read."""
    from .elf import read_btf_sections  # raw BTF needs no ELF reader

    secs = read_btf_sections(path)
    if secs.btf is None:
        raise ElfError(f"{path}: no .BTF section")
    if secs.base is not None:
        try:
            distilled = raw.parse(secs.base)
        except BtfFormatError as exc:
            raise BtfFormatError(f".BTF.base: {exc}") from None
        split, limits = _parse_section(secs.btf, distilled)
        if base is None:
            return split, limits
        from .relocate import RelocationError, relocate

        try:
            sanity_check(split, limits)  # relocation follows every id and name of the split types
        except BtfFormatError as exc:
            raise BtfFormatError(f".BTF over its .BTF.base: {exc}") from None
        try:
            return relocate(split, base), None
        except RelocationError as exc:
            raise RelocationError(f"{path}: {exc}", exc.problems) from None
    return _parse_section(secs.btf, base)


def _parse_section(data: bytes, base: Btf | None) -> tuple[Btf, SanityLimits]:
    try:
        return raw.parse_with_limits(data, base)
    except BtfFormatError as exc:
        raise BtfFormatError(f".BTF: {exc}") from None


def load_base(spec: str | Path) -> Btf:
    """Load a base BTF (vmlinux ELF, raw BTF or /sys/kernel/btf/vmlinux)."""
    return load(spec)
