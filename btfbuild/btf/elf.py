"""BTF in ELF files: the ``.BTF`` and ``.BTF.base`` sections of vmlinux, modules and objects.

Sections are read from the file by their header, never through ``objcopy -O binary``, which
returns nothing for a module's non-ALLOC ``.BTF``. Only the ELF header, the section header table
and the section name table are read, with :mod:`struct`: loading BTF needs nothing more, and
pyelftools would cost more import time than the whole read (``btfbuild dump vmlinux``).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, NamedTuple

from ..errors import ElfError

ELF_MAGIC = b"\x7fELF"
SHT_NOBITS = 8
SHN_XINDEX = 0xFFFF


class BtfSections(NamedTuple):
    btf: bytes | None
    base: bytes | None  # .BTF.base: the distilled base of a module
    little_endian: bool


def is_elf(data: bytes) -> bool:
    return data[:4] == ELF_MAGIC


def _read_exact(f: BinaryIO, off: int, size: int, what: str) -> bytes:
    f.seek(off)
    data = f.read(size)
    if len(data) != size:
        raise BadElf(f"{what} at offset {off} runs past the end of the file")
    return data


class SectionHeader:
    """One entry of the section header table, with its name. (A plain class rather than a
    dataclass: resolve_btfids imports this module, and ``dataclasses`` alone would add ~5 ms
    to each of its runs.)"""

    __slots__ = (
        "addr",
        "addralign",
        "entsize",
        "flags",
        "idx",
        "info",
        "link",
        "name",
        "name_off",
        "offset",
        "size",
        "type",
    )

    def __init__(self, idx: int, name: bytes, name_off: int, type: int, flags: int, addr: int,
                 offset: int, size: int, link: int, info: int, addralign: int,
                 entsize: int) -> None:
        self.idx = idx
        self.name = name
        self.name_off = name_off  # sh_name: where the name is in the section name table
        self.type = type
        self.flags = flags
        self.addr = addr
        self.offset = offset
        self.size = size
        self.link = link
        self.info = info
        self.addralign = addralign
        self.entsize = entsize

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, f) for f in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SectionHeader):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"SectionHeader({fields})"


class ElfHeaders(NamedTuple):
    """What the ELF header and the section header table say (no section contents)."""

    is64: bool
    little_endian: bool
    e_type: int
    shoff: int
    shstrndx: int
    phoff: int
    phentsize: int
    phnum: int
    ehsize: int
    sections: list[SectionHeader]  # section 0 included

    @property
    def endian(self) -> str:
        return "<" if self.little_endian else ">"


class BadElf(Exception):
    """Malformed ELF headers; callers word the message for their users."""


def read_headers(f: BinaryIO) -> ElfHeaders:
    """The headers of the ELF file open as *f* (extended section numbering understood)."""
    f.seek(0)
    ident = f.read(16)
    if len(ident) < 16 or not is_elf(ident):
        raise BadElf("magic number does not match")
    if ident[4] not in (1, 2):
        raise BadElf(f"invalid EI_CLASS {ident[4]}")
    if ident[5] not in (1, 2):
        raise BadElf(f"invalid EI_DATA {ident[5]}")
    is64 = ident[4] == 2
    e = "<" if ident[5] == 1 else ">"
    ehdr = _read_exact(f, 0, 64 if is64 else 52, "ELF header")
    fields = struct.unpack_from(e + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH"), ehdr, 16)
    (e_type, _machine, _version, _entry, phoff, shoff, _flags, ehsize, phentsize, phnum,
     shentsize, shnum, shstrndx) = fields
    shdr = struct.Struct(e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII"))
    sections: list[SectionHeader] = []

    def done() -> ElfHeaders:
        return ElfHeaders(is64, e == "<", e_type, shoff, shstrndx, phoff, phentsize, phnum,
                          ehsize, sections)

    if shoff == 0:
        return done()
    if shentsize < shdr.size:
        raise BadElf(f"section header size {shentsize} too small")
    first = shdr.unpack(_read_exact(f, shoff, shdr.size, "section header 0"))
    if shnum == 0:  # extended numbering: the count is in section 0's sh_size
        shnum = first[5]
    if shstrndx == SHN_XINDEX:  # and the name table's index in its sh_link
        shstrndx = first[6]
    if shnum > 1 << 20:
        raise BadElf(f"implausible section count {shnum}")
    table = _read_exact(f, shoff, shnum * shentsize, "section header table")
    raw = [shdr.unpack_from(table, i * shentsize) for i in range(shnum)]
    if shstrndx >= shnum:
        raise BadElf(f"section name table index {shstrndx} out of range")
    strtab_hdr = raw[shstrndx]
    strtab = (b"" if strtab_hdr[1] == SHT_NOBITS
              else _read_exact(f, strtab_hdr[4], strtab_hdr[5], "section name table"))
    for i, (name_off, *rest) in enumerate(raw):
        end = strtab.find(b"\0", name_off)  # an offset out of range names nothing
        name = strtab[name_off : end if end >= 0 else len(strtab)]
        sections.append(SectionHeader(i, name, name_off, *rest))
    return done()


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
        for sec in read_headers(f).sections:
            key = wanted.get(sec.name)
            if key is not None and sec.type != SHT_NOBITS:
                f.seek(sec.offset)
                data = f.read(sec.size)
                if len(data) != sec.size:
                    raise ElfError(f"{label}: section {key} runs past the end of the file")
                found[key] = data
        return found
    except BadElf as exc:
        raise ElfError(f"{label}: not a valid ELF file: {exc}") from None
    except (OSError, ValueError, struct.error) as exc:
        raise ElfError(f"{label}: cannot read ELF: {exc}") from None


def read_btf_sections(path: Path) -> BtfSections:
    with path.open("rb") as f:
        ident = f.read(6)
    found = read_sections(path)
    return BtfSections(found.get(".BTF"), found.get(".BTF.base"), ident[5:6] != b"\x02")
