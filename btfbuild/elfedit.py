"""Replacing sections of a relocatable ELF file (a kernel module) safely.

The sections are written by :mod:`btfbuild.elfwrite` into a temporary file next to the original,
then renamed over it. If anything fails the original file is left untouched.

``.BTF_ids`` (filled by resolve_btfids with type ids) must follow when a module's type ids change,
as distilling does: :func:`remap_btf_ids` rewrites every id slot through an id map and sorts the
``set``/``set8`` lists again, as resolve_btfids leaves them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from .errors import BtfbuildError

BTF_IDS = ".BTF_ids"
_ID_PREFIX = "__BTF_ID__"
_SET = "__BTF_ID__set__"
_SET8 = "__BTF_ID__set8__"


class ElfEditError(BtfbuildError):
    """The ELF file cannot be edited; the original is unchanged."""


def replace_sections(path: str | Path, sections: Mapping[str, bytes]) -> None:
    """Set the contents of *sections* in the ELF file *path*: existing sections are updated,
    missing ones added (no flags, alignment 1: as pahole adds ``.BTF``/``.BTF.base``); every
    other byte stays as it was (:func:`btfbuild.elfwrite.set_sections`).

    The file is replaced atomically; on any failure it is left as it was.
    """
    from .elfwrite import ElfWriteError, set_sections

    try:
        set_sections(path, sections)
    except ElfWriteError as exc:
        raise ElfEditError(str(exc)) from None


# -- .BTF_ids --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BtfIdsLayout:
    data: bytes
    little_endian: bool
    slots: list[tuple[int, str]]  # (offset, symbol) of each type id
    sets: list[tuple[int, bool]]  # (offset, is_set8) of each set header


def read_btf_ids(path: str | Path) -> BtfIdsLayout | None:
    """The ``.BTF_ids`` section of *path* and where its ids are, from the ``__BTF_ID__*``
    symbols; None when there is no such section."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            elf = ELFFile(f)
            sec = elf.get_section_by_name(BTF_IDS)
            if sec is None or sec["sh_type"] == "SHT_NOBITS":
                return None
            index = elf.get_section_index(BTF_IDS)
            data = sec.data()
            slots: list[tuple[int, str]] = []
            sets: list[tuple[int, bool]] = []
            for symtab in elf.iter_sections():
                if not isinstance(symtab, SymbolTableSection):
                    continue
                for sym in symtab.iter_symbols():
                    name = sym.name
                    if sym["st_shndx"] != index or not name.startswith(_ID_PREFIX):
                        continue
                    off = sym["st_value"] - (0 if elf["e_type"] == "ET_REL" else sec["sh_addr"])
                    if name.startswith(_SET8):
                        sets.append((off, True))
                    elif name.startswith(_SET):
                        sets.append((off, False))
                    else:
                        slots.append((off, name))
            return BtfIdsLayout(bytes(data), elf.little_endian, sorted(slots), sorted(sets))
    except ELFError as exc:
        raise ElfEditError(f"{path}: not a valid ELF file: {exc}") from None
    except OSError as exc:
        raise ElfEditError(f"{path}: {exc.strerror or exc}") from None


def remap_btf_ids(layout: BtfIdsLayout, id_map: Mapping[int, int],
                  describe: Callable[[int], str]) -> bytes:
    """*layout*'s data with each non-zero id replaced by ``id_map[id]`` and each set sorted.

    Raises :class:`ElfEditError` naming the symbols whose ids *id_map* lacks (*describe* names
    the type of an old id)."""
    e = "<" if layout.little_endian else ">"
    u32 = struct.Struct(e + "I")
    buf = bytearray(layout.data)
    missing = []
    for off, sym in layout.slots:
        if off + 4 > len(buf):
            raise ElfEditError(f"{BTF_IDS}: symbol {sym} points past the end of the section")
        (old,) = u32.unpack_from(buf, off)
        if not old:
            continue  # unresolved at build time; the kernel sees 0 either way
        new = id_map.get(old)
        if new is None:
            missing.append(f"{sym} ({describe(old)})")
            continue
        u32.pack_into(buf, off, new)
    if missing:
        raise ElfEditError(f"{BTF_IDS} refers to types the new BTF does not have: "
                           + ", ".join(missing))
    for off, is_set8 in layout.sets:
        (cnt,) = u32.unpack_from(buf, off)
        start = off + (8 if is_set8 else 4)
        width = 8 if is_set8 else 4
        end = start + cnt * width
        if end > len(buf):
            raise ElfEditError(f"{BTF_IDS}: set at offset {off} runs past the end of the section")
        items = [bytes(buf[i : i + width]) for i in range(start, end, width)]
        items.sort(key=lambda item: u32.unpack_from(item)[0])
        buf[start:end] = b"".join(items)
    return bytes(buf)
