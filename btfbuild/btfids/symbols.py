"""The ELF side of resolve_btfids: the ``.BTF_ids`` section and the ``__BTF_ID__*`` symbols on it.

Section headers come from btfbuild.btf.elf. The symbol table is read in bulk from the file: vmlinux
has well over 100,000 symbols and only a few hundred of them live in ``.BTF_ids``, so the
section index of every entry is compared in one strided pass and only the matches are unpacked.

Symbol names are parsed exactly as the kernel's tool parses them (``tools/bpf/resolve_btfids``),
quirks included, because the names decide which slots get which ids:

* ``__BTF_ID__<kind>__<name>__<n>``: the kind is matched as a *prefix* (``struct``, ``union``,
  ``typedef``, ``func``, then ``set8``, then ``set``), two characters are skipped after it, and
  everything from the last ``_`` on, plus the ``_`` before it, is cut off. The number itself is
  never looked at.
* ``__BTF_ID__set__<name>`` / ``__BTF_ID__set8__<name>``: the symbol sits on the set's count;
  its size says how many members follow (``size / 4 - 1`` ids, ``size / 8 - 1`` id/flags pairs).
  Set names must be unique across both forms.

:func:`kernel_version` tells which kernel the file belongs to, for the 6.19+ form, whose output
depends on the kernel's release (:mod:`.genbtf`).
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO, NamedTuple

from .errors import BtfIdsError, Log

BTF_IDS_SECTION = ".BTF_ids"
BTF_BASE_SECTION = ".BTF.base"
PREFIX = b"__BTF_ID__"
ADDR_CNT = 100  # the kernel tool's limit on slots per name

SYM_KINDS: tuple[str, ...] = ("struct", "union", "typedef", "func")

SHT_SYMTAB = 2
SHT_NOBITS = 8


class SectionHeader(NamedTuple):
    idx: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


class ElfLayout(NamedTuple):
    """What resolve_btfids needs from an ELF file's headers."""

    little_endian: bool
    is64: bool
    sections: list[SectionHeader]
    idlist: SectionHeader | None  # the last section named .BTF_ids, as the kernel tool picks it
    symtab: SectionHeader | None  # the last SHT_SYMTAB
    has_btf_base: bool  # a .BTF.base section: the module's BTF is split over its distilled base


def read_layout(f: BinaryIO, path: str) -> ElfLayout:
    """Section headers of the ELF file open as *f*; errors read like the kernel tool's."""
    from ..btf.elf import BadElf, read_headers

    f.seek(0)
    if f.read(4) != b"\x7fELF":
        raise BtfIdsError(f"FAILED cannot get shdr str ndx: {path} is not an ELF file")
    try:
        headers = read_headers(f)
        sections = [SectionHeader(h.idx, h.name.decode(), h.type, h.flags, h.addr, h.offset,
                                  h.size, h.link, h.entsize) for h in headers.sections[1:]]
    except BadElf as exc:
        raise BtfIdsError(f"FAILED cannot get shdr str ndx: {path}: {exc}") from None
    except (ValueError, struct.error) as exc:  # UnicodeDecodeError is a ValueError
        raise BtfIdsError(f"FAILED cannot read ELF headers of {path}: {exc}") from None
    idlist = symtab = None
    has_base = False
    for sh in sections:
        if sh.type == SHT_SYMTAB:
            symtab = sh
        elif sh.name == BTF_IDS_SECTION:
            idlist = sh
        elif sh.name == BTF_BASE_SECTION:
            has_base = True
    return ElfLayout(headers.little_endian, headers.is64, sections, idlist, symtab, has_base)


def read_at(fd: int, offset: int, size: int, what: str) -> bytes:
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise BtfIdsError(f"FAILED to get {what} data: section runs past the end of the file")
    return data


class RawSymbol(NamedTuple):
    """A ``__BTF_ID__*`` symbol on ``.BTF_ids``, in symbol-table order."""

    name: bytes
    value: int
    size: int


def symbol_tables(fd: int, layout: ElfLayout) -> tuple[bytes, bytes]:
    """The symbol table's entries (whole ones only) and its string table; BtfIdsError when
    they are malformed. The layout must have a symbol table."""
    symtab = layout.symtab
    assert symtab is not None
    entsize = 24 if layout.is64 else 16
    if symtab.entsize != entsize:
        raise BtfIdsError(f"FAILED malformed symbol table: entry size {symtab.entsize}, "
                          f"expected {entsize}")
    table = read_at(fd, symtab.offset, symtab.size // entsize * entsize, "symbol table")
    strtab_hdr = next((s for s in layout.sections if s.idx == symtab.link), None)
    if strtab_hdr is None or strtab_hdr.type == SHT_NOBITS:
        raise BtfIdsError(f"FAILED malformed symbol table: no string table at index {symtab.link}")
    return table, read_at(fd, strtab_hdr.offset, strtab_hdr.size, "symbol string table")


def btf_id_symbols(fd: int, layout: ElfLayout) -> list[RawSymbol]:
    """Symbols defined in ``.BTF_ids`` whose names start with ``__BTF_ID__``."""
    idlist = layout.idlist
    assert idlist is not None
    table, strtab = symbol_tables(fd, layout)
    entsize = 24 if layout.is64 else 16

    # st_shndx of every entry, as raw 16-bit words in the file's byte order
    halfwords = memoryview(table).cast("H")
    shndx_words = halfwords[3::12] if layout.is64 else halfwords[7::8]
    want = idlist.idx & 0xFFFF
    native_little = struct.pack("=H", 1) == b"\x01\x00"
    if native_little != layout.little_endian:
        want = ((want & 0xFF) << 8) | (want >> 8)
    hits = [i for i, v in enumerate(shndx_words.tolist()) if v == want]

    e = "<" if layout.little_endian else ">"
    fmt = struct.Struct(e + ("IBBHQQ" if layout.is64 else "IIIBBH"))
    out: list[RawSymbol] = []
    for i in hits:
        fields = fmt.unpack_from(table, i * entsize)
        if layout.is64:
            st_name, _info, _other, _shndx, value, size = fields
        else:
            st_name, value, size, _info, _other, _shndx = fields
        if st_name >= len(strtab):
            continue  # libelf gives no name; the kernel tool skips the symbol
        end = strtab.find(b"\0", st_name)
        if end < 0:
            continue
        name = strtab[st_name:end]
        if name.startswith(PREFIX):
            out.append(RawSymbol(name, value, size))
    return out


class BtfIdName:
    """One name of one kind and every slot (address) that holds it; a set's count slot."""

    __slots__ = ("addrs", "id", "is_set", "is_set8", "kind", "name", "symbols")

    def __init__(self, name: bytes, kind: str) -> None:
        self.name = name
        self.kind = kind  # struct, union, typedef, func, set, set8
        self.addrs: list[int] = []
        self.symbols: list[bytes] = []
        self.id = 0  # the resolved type id; for sets, the member count
        self.is_set = False
        self.is_set8 = False


class Collected(NamedTuple):
    """The symbols of ``.BTF_ids`` grouped as the kernel tool groups them."""

    names: dict[str, dict[bytes, BtfIdName]]  # struct/union/typedef/func -> name -> entry
    sets: dict[bytes, BtfIdName]
    counts: dict[str, int]  # symbols per kind (not names: a name used twice counts twice)
    symbols: list[tuple[RawSymbol, BtfIdName]]  # every symbol in table order, with its entry


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def parse_name(prefix_end: bytes) -> bytes | None:
    """The type name in what follows ``__BTF_ID__<kind>``, or None when it cannot be parsed.

    Two characters (meant to be ``__``) are skipped, then the last ``_`` and the character before
    it, which must be ``_`` too, end the name.
    """
    if len(prefix_end) <= 2:
        return None
    rest = prefix_end[2:]
    cut = rest.rfind(b"_")
    if cut <= 0 or rest[cut - 1] != 0x5F:
        return None
    return rest[: cut - 1]


def collect(symbols: list[RawSymbol], log: Log) -> Collected:
    names: dict[str, dict[bytes, BtfIdName]] = {k: {} for k in SYM_KINDS}
    sets: dict[bytes, BtfIdName] = {}
    counts = dict.fromkeys(SYM_KINDS, 0)
    pairs: list[tuple[RawSymbol, BtfIdName]] = []
    for sym in symbols:
        rest = sym.name[len(PREFIX):]
        entry: BtfIdName | None = None
        for kind in SYM_KINDS:
            if rest.startswith(kind.encode()):
                counts[kind] += 1
                name = parse_name(rest[len(kind):])
                if name is None:
                    raise BtfIdsError(f"FAILED to parse symbol name: {_show(rest)}")
                tree = names[kind]
                entry = tree.get(name)
                if entry is None:
                    log(1, f"adding symbol {_show(name)}")
                    entry = tree[name] = BtfIdName(name, kind)
                break
        else:
            if rest.startswith(b"set8"):
                kind, skip, width = "set8", 6, 8
            elif rest.startswith(b"set"):
                kind, skip, width = "set", 5, 4
            else:
                raise BtfIdsError(f"FAILED unsupported prefix {_show(rest)}")
            name = rest[skip:]
            if len(rest) <= skip:
                raise BtfIdsError(f"FAILED to parse set name: {_show(rest)}")
            if name in sets:
                # the kernel tool fails here too, but silently
                raise BtfIdsError(f"FAILED duplicate set name {_show(name)} "
                                  f"({_show(sets[name].symbols[0])} and {_show(sym.name)})")
            log(1, f"adding symbol {_show(name)}")
            entry = sets[name] = BtfIdName(name, kind)
            entry.id = _int32(sym.size // width - 1)
            entry.is_set = kind == "set"
            entry.is_set8 = kind == "set8"
        if len(entry.addrs) >= ADDR_CNT:
            raise BtfIdsError(f"FAILED symbol {_show(entry.name)} crossed the number of allowed "
                              "lists")
        entry.addrs.append(sym.value)
        entry.symbols.append(sym.name)
        pairs.append((sym, entry))
    return Collected(names, sets, counts, pairs)


MODINFO_SECTION = ".modinfo"
VERMAGIC = b"vermagic="
BANNER_SYMBOL = b"linux_banner"
BANNER_PREFIX = b"Linux version "
BANNER_MAX = 512  # more than init/version.c's banner ever is


def kernel_version(fd: int, layout: ElfLayout) -> tuple[int, int] | None:
    """(major, minor) of the kernel the ELF file open as *fd* was built for: a module's
    ``vermagic=`` in ``.modinfo`` ("7.2.13 SMP preempt ..."), else the ``linux_banner`` string of
    vmlinux ("Linux version 7.2.13 (...) ..."); None when it has neither (a test object), or
    when what it has cannot be read: the kernel tool never reads them, so they fail no run."""
    try:
        return _kernel_version(fd, layout)
    except BtfIdsError:
        return None


def _kernel_version(fd: int, layout: ElfLayout) -> tuple[int, int] | None:
    for sh in layout.sections:
        if sh.name == MODINFO_SECTION and sh.type != SHT_NOBITS:
            for entry in read_at(fd, sh.offset, sh.size, MODINFO_SECTION).split(b"\0"):
                if entry.startswith(VERMAGIC):
                    return parse_release(entry[len(VERMAGIC):])
    banner = _symbol_string(fd, layout, BANNER_SYMBOL)
    if banner is None or not banner.startswith(BANNER_PREFIX):
        return None
    return parse_release(banner[len(BANNER_PREFIX):])


def parse_release(text: bytes) -> tuple[int, int] | None:
    """(major, minor) of a release string such as ``7.2.13``, ``6.1.0-56-amd64`` or ``7.3-rc1``."""
    parts = text.split(b" ", 1)[0].split(b".")
    if len(parts) < 2 or not parts[0].isdigit():
        return None
    minor = parts[1]
    digits = len(minor) - len(minor.lstrip(b"0123456789"))
    if not digits:
        return None
    return int(parts[0]), int(minor[:digits])


def _symbol_string(fd: int, layout: ElfLayout, name: bytes) -> bytes | None:
    """The NUL-terminated string at the address of the first symbol called *name*, read from
    the section that holds it; None when there is no such symbol or it points at no data."""
    if layout.symtab is None:
        return None
    table, strtab = symbol_tables(fd, layout)  # BtfIdsError: kernel_version says None
    entsize = 24 if layout.is64 else 16
    # st_name values that read as *name* (a linker may share it as the tail of a longer name)
    e = "<" if layout.little_endian else ">"
    wanted = set()
    at = strtab.find(name + b"\0")
    while at >= 0:
        wanted.add(struct.pack(e + "I", at))
        at = strtab.find(name + b"\0", at + 1)
    if not wanted:
        return None
    # st_name is the first word of an entry in both classes: search for it in the table, at
    # entry boundaries only, rather than unpacking every symbol
    found = -1
    for pattern in wanted:
        at = table.find(pattern)
        while at >= 0 and at % entsize:
            at = table.find(pattern, at + 1)
        if at >= 0 and (found < 0 or at < found):
            found = at
    if found < 0:
        return None
    if layout.is64:
        _, _, _, shndx, value, _ = struct.unpack_from(e + "IBBHQQ", table, found)
    else:
        _, value, _, _, _, shndx = struct.unpack_from(e + "IIIBBH", table, found)
    sec = next((s for s in layout.sections if s.idx == shndx), None)
    if sec is None or sec.type == SHT_NOBITS or not sec.addr <= value < sec.addr + sec.size:
        return None
    start = value - sec.addr
    data = read_at(fd, sec.offset + start, min(BANNER_MAX, sec.size - start), sec.name)
    return data.split(b"\0", 1)[0]


def _show(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")
