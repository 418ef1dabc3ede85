"""BTF in ELF files: the ``.BTF`` and ``.BTF.base`` sections of vmlinux, modules and objects.

Sections are read from the file by their header, never through ``objcopy -O binary``, which
returns nothing for a module's non-ALLOC ``.BTF``. Only the ELF header, the section header table
and the section name table are read, with :mod:`struct`: loading BTF needs nothing more, and
pyelftools would cost more import time than the whole read (``btfbuild dump vmlinux``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import ElfError

ELF_MAGIC = b"\x7fELF"
SHT_NOBITS = 8
SHN_XINDEX = 0xFFFF


@dataclass(frozen=True, slots=True)
class BtfSections:
    btf: bytes | None
    base: bytes | None  # .BTF.base: the distilled base of a module
    little_endian: bool


def is_elf(data: bytes) -> bool:
    return data[:4] == ELF_MAGIC


class _BadElf(Exception):
    """Malformed ELF headers (reported as "not a valid ELF file")."""


def _read_exact(f: BinaryIO, off: int, size: int, what: str) -> bytes:
    f.seek(off)
    data = f.read(size)
    if len(data) != size:
        raise _BadElf(f"{what} at offset {off} runs past the end of the file")
    return data


def _section_headers(f: BinaryIO) -> list[tuple[bytes, int, int, int]]:
    """``(name, sh_type, sh_offset, sh_size)`` of every section, in header order."""
    ident = f.read(16)
    if len(ident) < 16 or not is_elf(ident):
        raise _BadElf("magic number does not match")
    if ident[4] not in (1, 2):
        raise _BadElf(f"invalid EI_CLASS {ident[4]}")
    if ident[5] not in (1, 2):
        raise _BadElf(f"invalid EI_DATA {ident[5]}")
    is64 = ident[4] == 2
    e = "<" if ident[5] == 1 else ">"
    if is64:
        ehdr = _read_exact(f, 0, 64, "ELF header")
        shoff, = struct.unpack_from(e + "Q", ehdr, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", ehdr, 0x3A)
        shdr = struct.Struct(e + "IIQQQQIIQQ")
    else:
        ehdr = _read_exact(f, 0, 52, "ELF header")
        shoff, = struct.unpack_from(e + "I", ehdr, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", ehdr, 0x2E)
        shdr = struct.Struct(e + "IIIIIIIIII")
    if shoff == 0:
        return []
    if shentsize < shdr.size:
        raise _BadElf(f"section header size {shentsize} too small")
    first = shdr.unpack(_read_exact(f, shoff, shdr.size, "section header 0"))
    if shnum == 0:  # extended numbering: the count is in section 0's sh_size
        shnum = first[5]
    if shstrndx == SHN_XINDEX:  # and the name table's index in its sh_link
        shstrndx = first[6]
    if shnum > 1 << 20:
        raise _BadElf(f"implausible section count {shnum}")
    table = _read_exact(f, shoff, shnum * shentsize, "section header table")
    raw = [shdr.unpack_from(table, i * shentsize) for i in range(shnum)]
    if shstrndx >= shnum:
        raise _BadElf(f"section name table index {shstrndx} out of range")
    strtab_hdr = raw[shstrndx]
    strtab = (b"" if strtab_hdr[1] == SHT_NOBITS
              else _read_exact(f, strtab_hdr[4], strtab_hdr[5], "section name table"))
    out = []
    for name_off, typ, _flags, _addr, off, size, *_ in raw:
        end = strtab.find(b"\0", name_off)  # an offset out of range names nothing
        out.append((strtab[name_off : end if end >= 0 else len(strtab)], typ, off, size))
    return out


def read_sections(path: Path, names: tuple[str, ...] = (".BTF", ".BTF.base")) -> dict[str, bytes]:
    """The contents of the named sections that exist in the ELF file *path*."""
    try:
        with path.open("rb") as f:
            return read_sections_from(f, str(path), names)
    except OSError as exc:
        raise ElfError(f"{path}: cannot read ELF: {exc.strerror or exc}") from None


def read_sections_from(f: BinaryIO, label: str,
                       names: tuple[str, ...] = (".BTF", ".BTF.base")) -> dict[str, bytes]:
    """:func:`read_sections` of an ELF file open as *f*; *label* names it in errors."""
    wanted = {n.encode(): n for n in names}
    try:
        found: dict[str, bytes] = {}
        for name, typ, off, size in _section_headers(f):
            key = wanted.get(name)
            if key is not None and typ != SHT_NOBITS:
                f.seek(off)
                data = f.read(size)
                if len(data) != size:
                    raise ElfError(f"{label}: section {key} runs past the end of the file")
                found[key] = data
        return found
    except _BadElf as exc:
        raise ElfError(f"{label}: not a valid ELF file: {exc}") from None
    except (OSError, ValueError, struct.error) as exc:
        raise ElfError(f"{label}: cannot read ELF: {exc}") from None


def read_btf_sections(path: Path) -> BtfSections:
    with path.open("rb") as f:
        ident = f.read(6)
    found = read_sections(path)
    return BtfSections(found.get(".BTF"), found.get(".BTF.base"), ident[5:6] != b"\x02")
