"""Setting the contents of non-allocated ELF sections (``.BTF``, ``.BTF.base``) in place of
objcopy, as pahole does through libelf.

Every byte the change does not concern stays where it is: the new contents are appended after
the last byte still in use, followed by a new section header table. A section that gets new
contents keeps its index (symbols and relocations refer to sections by index), a new one is
added after the last, and ``.shstrtab`` grows by the new names. Only what lies at the end of the
file and is replaced anyway (an earlier ``.BTF``, the old section header table) is dropped, so
running twice does not grow the file. This works for relocatable objects (modules) and for
linked files (the ``.tmp_vmlinux`` that kbuild hands pahole), whose loaded sections and segments
are not moved.

The file is replaced atomically (:mod:`btfbuild.atomic`); on failure it is left as it was.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from pathlib import Path

from .atomic import copy_range, replace_file
from .btf.elf import BadElf, ElfHeaders, SectionHeader, read_headers
from .errors import BtfbuildError

ET_REL = 1
SHT_PROGBITS = 1
SHT_NOBITS = 8
SHF_ALLOC = 0x2
SHN_LORESERVE = 0xFF00
SHN_XINDEX = 0xFFFF


class ElfWriteError(BtfbuildError):
    """The sections cannot be written; the file is unchanged."""


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a if a > 1 else n


def set_sections(path: str | Path, sections: Mapping[str, bytes]) -> None:
    """Give the named sections of ELF file *path* the given contents: existing ones are
    overwritten where they are when the size stays, else moved to the end (in a linked file,
    only sections that are not loaded can change size); missing ones are added as
    non-allocated ``PROGBITS`` with alignment 1, as pahole adds ``.BTF`` and ``.BTF.base``."""
    path = Path(path)

    def build(src: int, dst: int) -> None:
        size = os.fstat(src).st_size
        with os.fdopen(os.dup(src), "rb") as f:
            try:
                lay = read_headers(f)
            except BadElf as exc:
                raise ElfWriteError(f"{path}: not a valid ELF file: {exc}") from None
        shdrs = lay.sections
        if not 0 < lay.shstrndx < len(shdrs):
            raise ElfWriteError(f"{path}: not a valid ELF file: no section name table")
        shstr = shdrs[lay.shstrndx]
        strtab = os.pread(src, shstr.size, shstr.offset)
        if len(strtab) != shstr.size:
            raise ElfWriteError(f"{path}: section name table runs past the end of the file")
        index = {h.name: h.idx for h in shdrs if h.idx}
        new_strtab = bytearray(strtab)
        rewritten: dict[int, bytes] = {}
        in_place: dict[int, bytes] = {}  # same size: written over the old contents
        for name, data in sections.items():
            i = index.get(name.encode())
            if i is None:
                i = len(shdrs)
                shdrs.append(SectionHeader(i, name.encode(), len(new_strtab), SHT_PROGBITS,
                                           0, 0, 0, 0, 0, 0, 1, 0))
                new_strtab += name.encode() + b"\0"
            elif shdrs[i].type == SHT_NOBITS:
                raise ElfWriteError(f"{path}: section {name} has no contents in the file")
            elif len(data) == shdrs[i].size:
                in_place[i] = data
                continue
            elif shdrs[i].flags & SHF_ALLOC and lay.e_type != ET_REL:
                raise ElfWriteError(f"{path}: section {name} is loaded at run time; "
                                    "its size cannot change")
            rewritten[i] = data
        if bytes(new_strtab) != strtab:
            rewritten[lay.shstrndx] = bytes(new_strtab)
        # keep every byte up to the end of the last thing not being replaced
        keep = max(lay.ehsize, lay.phoff + lay.phentsize * lay.phnum if lay.phnum else 0)
        for i, s in enumerate(shdrs):
            if i and i not in rewritten and s.type != SHT_NOBITS:
                keep = max(keep, s.offset + s.size)
        if keep > size:
            raise ElfWriteError(f"{path}: a section runs past the end of the file")
        copy_range(src, dst, keep)
        for i, data in in_place.items():
            os.pwrite(dst, data, shdrs[i].offset)
        pos = keep
        for i in sorted(rewritten, key=lambda k: (k != lay.shstrndx, k)):
            s, data = shdrs[i], rewritten[i]
            pos = _align(pos, max(s.addralign, 1))
            os.pwrite(dst, data, pos)
            s.offset, s.size = pos, len(data)
            pos += len(data)
        shoff = _align(pos, 8 if lay.is64 else 4)
        shnum = len(shdrs)
        if shnum >= SHN_LORESERVE:
            shdrs[0].size = shnum
        fmt = struct.Struct(lay.endian + ("IIQQQQIIQQ" if lay.is64 else "IIIIIIIIII"))
        table = b"".join(fmt.pack(s.name_off, s.type, s.flags, s.addr, s.offset, s.size, s.link,
                                  s.info, s.addralign, s.entsize) for s in shdrs)
        os.pwrite(dst, b"\0" * (shoff - pos) + table, pos)
        _patch_header(dst, lay, shoff, shnum)

    try:
        replace_file(path, build)
    except OSError as exc:
        raise ElfWriteError(f"{path}: {exc.strerror or exc}") from None


def _patch_header(fd: int, lay: ElfHeaders, shoff: int, shnum: int) -> None:
    e = lay.endian
    count = 0 if shnum >= SHN_LORESERVE else shnum
    strndx = SHN_XINDEX if lay.shstrndx >= SHN_LORESERVE else lay.shstrndx
    if lay.is64:
        os.pwrite(fd, struct.pack(e + "Q", shoff), 0x28)
        os.pwrite(fd, struct.pack(e + "HH", count, strndx), 0x3C)
    else:
        os.pwrite(fd, struct.pack(e + "I", shoff), 0x20)
        os.pwrite(fd, struct.pack(e + "HH", count, strndx), 0x30)
