"""resolve_btfids: fill the kernel's ``.BTF_ids`` section with BTF type ids.

The kernel marks, with ``include/linux/btf_ids.h``, places in ``.BTF_ids`` that must hold the
BTF id of a named struct, union, typedef or function, plus sorted sets of such ids
(``BTF_SET``) and of id/flags pairs (``BTF_SET8``). After linking, ``resolve_btfids`` looks the
names up in the object's BTF and writes the ids. This package does the same, with the kernel
tool's results, warnings and exit behaviour (see :mod:`btfbuild.fronts.resolve_btfids`):

* ids are looked up in the object's ``.BTF`` or in ``--btf``; a module's split BTF continues
  the ids of the base given with ``-b``, except that a module with ``.BTF.base`` is read over
  that distilled base and ``-b`` is ignored;
* unresolved names warn and leave 0 in their slots; set counts come from the set symbols' sizes;
* the file changes in the ``.BTF_ids`` bytes only, replaced atomically (:mod:`.patch`); nothing
  is written (not even the mtime) when the section already holds the result, nor on any error
  (the kernel tool patches libelf's shared mapping of the file as it goes, so a failure half-way
  leaves earlier slots written there).

Kernels 6.19+ run the tool differently: the ELF file is only read, and the BTF (annotated,
deduplicated, sorted; less of that for kernels up to 7.2, whose release the ELF file tells) and
the resolved section are written to files next to it (:mod:`.genbtf`).

Modules: :mod:`.symbols` (ELF, symbol names), :mod:`.btfnames` (BTF name lookup),
:mod:`.resolve` (the search and the patching), :mod:`.patch` (the file update), :mod:`.genbtf`
(the 6.19+ run) and :mod:`.btf2btf` (its kfunc annotations).
"""

from __future__ import annotations

import mmap
import os
import struct
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from ..errors import BtfbuildError, BtfFormatError
from .btfnames import KIND_OF, ModelNames, NameSource, RawNames
from .errors import BtfIdsError, Log, quiet
from .patch import replace_range
from .resolve import patch_section, resolve_ids
from .symbols import (
    BTF_IDS_SECTION,
    SHT_NOBITS,
    Collected,
    ElfLayout,
    SectionHeader,
    _show,
    btf_id_symbols,
    collect,
    read_at,
    read_layout,
)

if TYPE_CHECKING:
    from ..btf import Btf

__all__ = [
    "KIND_OF",
    "BtfIdsError",
    "Log",
    "ModelNames",
    "NameSource",
    "RawNames",
    "Result",
    "Slot",
    "format_slots",
    "list_slots",
    "load_names",
    "patch_btfids_blob",
    "quiet",
    "resolve_file",
    "resolve_model",
]

ELF_MAGIC = b"\x7fELF"


class Result(NamedTuple):
    """What a run did. ``nothing_to_do``: no ``.BTF_ids`` or no symbol table (exit 0)."""

    nothing_to_do: bool
    changed: bool = False
    warnings: int = 0
    section: bytes = b""  # the resolved .BTF_ids contents


def _open(path: str, flags: int, what: str = "FAILED cannot open") -> int:
    try:
        return os.open(path, flags | os.O_CLOEXEC)
    except OSError as exc:
        raise BtfIdsError(f"{what} {path}: {exc.strerror or exc}") from None


# -- loading the names of the BTF ----------------------------------------------------------------


def _btf_sections(f: BinaryIO, path: str, layout: ElfLayout | None = None
                  ) -> tuple[memoryview | None, memoryview | None]:
    """``.BTF`` and ``.BTF.base`` of the ELF file open as *f* (None when absent), as views of
    the file mapped into memory: a vmlinux's 4 MB of BTF are not copied."""
    if layout is None:
        layout = read_layout(f, path)
    found: dict[str, memoryview] = {}
    mapped: memoryview | None = None
    for sec in layout.sections:
        if sec.name in (".BTF", ".BTF.base") and sec.type != SHT_NOBITS:
            if mapped is None:
                size = os.fstat(f.fileno()).st_size
                mapped = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                                    if size else b"")
            if sec.offset + sec.size > len(mapped):
                raise BtfIdsError(f"FAILED to get {sec.name} data: section runs past the end "
                                  "of the file")
            found[sec.name] = mapped[sec.offset : sec.offset + sec.size]
    return found.get(".BTF"), found.get(".BTF.base")


def _load_raw_or_elf(path: str, base: RawNames | None,
                     layout: ElfLayout | None = None) -> RawNames:
    """libbpf's ``btf__parse_split()``: raw BTF, or the ``.BTF`` of an ELF file (over its own
    ``.BTF.base`` when it has one and no base is given). *layout*: the file's, if known."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
            if magic != ELF_MAGIC:
                f.seek(0)
                return RawNames(f.read(), base)
            btf, distilled = _btf_sections(f, path, layout)
    except OSError as exc:
        raise BtfbuildError(exc.strerror or str(exc)) from None
    except BtfIdsError as exc:
        raise BtfbuildError(str(exc).removeprefix("FAILED ")) from None
    if btf is None:
        raise BtfbuildError("No data available (no .BTF section)")
    if distilled is not None:
        if base is not None:
            raise BtfbuildError("it has a distilled base (.BTF.base); relocating it onto another "
                                "base is not supported")
        return RawNames(btf, RawNames(distilled))
    return RawNames(btf, base)


def load_names(obj: ElfLayout, obj_path: str, btf_path: str | None,
               base_path: str | None) -> RawNames:
    """The BTF the kernel tool would resolve against: ``--btf`` or the object's own, split over
    ``-b`` unless the object carries ``.BTF.base``."""
    if obj.has_btf_base:
        base_path = None
    base = None
    if base_path is not None:
        try:
            base = _load_raw_or_elf(base_path, None)
        except BtfbuildError as exc:
            raise BtfIdsError(f"FAILED: load base BTF from {base_path}: {_why(exc)}") from None
    src = btf_path or obj_path
    try:
        return _load_raw_or_elf(src, base, None if btf_path else obj)
    except BtfbuildError as exc:
        raise BtfIdsError(f"FAILED: load BTF from {src}: {_why(exc)}") from None


def _why(exc: BtfbuildError) -> str:
    """libbpf's strerror() for malformed BTF, with what is wrong."""
    return f"Invalid argument ({exc})" if isinstance(exc, BtfFormatError) else str(exc)


# -- the run -------------------------------------------------------------------------------------


def _log_sections(layout: ElfLayout, log: Log) -> None:
    for s in layout.sections:
        log(2, f"section({s.idx}) {s.name}, size {s.size}, link {s.link}, flags {s.flags:x}, "
               f"type={s.type}")


def _section_bytes(fd: int, sec: SectionHeader) -> bytes:
    if sec.type == SHT_NOBITS:
        raise BtfIdsError(f"FAILED to get {sec.name} data: the section has no file contents "
                          "(SHT_NOBITS)")
    return read_at(fd, sec.offset, sec.size, sec.name)


class _Prepared(NamedTuple):
    layout: ElfLayout
    idlist: SectionHeader
    section: bytes
    collected: Collected


def _prepare(fd: int, path: str, log: Log, consequence: str = "nothing to do",
             layout: ElfLayout | None = None) -> _Prepared | None:
    """The ``.BTF_ids`` section and its symbols; None when the file has no such section or no
    symbol table (logged with -v: "Cannot find ... sections, *consequence*"). *layout*: the
    file's, if read already."""
    if layout is None:
        with os.fdopen(os.dup(fd), "rb") as f:
            layout = read_layout(f, path)
    _log_sections(layout, log)
    if layout.idlist is None or layout.symtab is None:
        log(1, f"Cannot find .BTF_ids or symbols sections, {consequence}")
        return None
    collected = collect(btf_id_symbols(fd, layout), log)
    return _Prepared(layout, layout.idlist, _section_bytes(fd, layout.idlist), collected)


def resolve_file(path: str, *, btf: str | None = None, base: str | None = None,
                 log: Log = quiet, write: bool = True,
                 names: NameSource | None = None) -> Result:
    """Resolve the ``.BTF_ids`` of the ELF file *path* in place (or only compute it, without
    *write*). *btf*/*base* are the ``--btf``/``-b`` files; *names* overrides both with a
    ready name source (for instance :class:`ModelNames` over a model in memory)."""
    fd = _open(path, os.O_RDWR if write else os.O_RDONLY)
    try:
        prep = _prepare(fd, path, log)
        if prep is None:
            return Result(nothing_to_do=True)
        if names is None:
            names = load_names(prep.layout, path, btf, base)
        warnings = resolve_ids(prep.collected, names, log)
        out = patch_section(prep.section, prep.collected, prep.idlist.addr,
                            prep.layout.little_endian, log)
        changed = out.data != prep.section
        if write and changed:
            replace_range(path, fd, prep.idlist.offset, out.data, prep.section)
        if write:
            log(1, f"update ok for {path}")
        return Result(False, changed, warnings + out.warnings, out.data)
    finally:
        os.close(fd)


def resolve_model(path: str, btf: Btf, *, log: Log = quiet, write: bool = True) -> Result:
    """:func:`resolve_file` with ids from a :class:`~btfbuild.btf.Btf` model."""
    return resolve_file(path, log=log, write=write, names=ModelNames(btf))


def patch_btfids_blob(blob: str, path: str, log: Log = quiet) -> None:
    """``resolve_btfids --patch_btfids BLOB ELF`` (kernels 6.19+): copy a ``.BTF_ids`` data file
    into the ELF's section of the same size."""
    fd = _open(path, os.O_RDWR, "FAILED to open")
    try:
        with os.fdopen(os.dup(fd), "rb") as f:
            layout = read_layout(f, path)
        sec = next((s for s in layout.sections if s.name == BTF_IDS_SECTION), None)
        if sec is None:
            raise BtfIdsError(f"FAILED: section {BTF_IDS_SECTION} not found in {path}")
        old = _section_bytes(fd, sec)
        try:
            size = os.stat(blob).st_size
        except OSError as exc:
            raise BtfIdsError(f"FAILED to stat {blob}: {exc.strerror or exc}") from None
        if size != len(old):
            raise BtfIdsError(f"FAILED: size mismatch - {BTF_IDS_SECTION} section in {path} is "
                              f"{len(old)} bytes, {blob} is {size} bytes")
        try:
            with open(blob, "rb") as b:
                data = b.read()
        except OSError as exc:
            raise BtfIdsError(f"FAILED to open {blob}: {exc.strerror or exc}") from None
        if len(data) != len(old):
            raise BtfIdsError(f"FAILED to read {blob}")
        log(1, f"Copying data from {blob} to {BTF_IDS_SECTION} section of {path} "
               f"({len(old)} bytes)")
        if data != old:
            replace_range(path, fd, sec.offset, data, old)
    finally:
        os.close(fd)


# -- listing -------------------------------------------------------------------------------------


class Slot(NamedTuple):
    """One ``__BTF_ID__*`` symbol of ``.BTF_ids``: where it is and what it resolves to."""

    offset: int  # in the section
    symbol: str
    kind: str  # struct, union, typedef, func, set, set8
    name: str
    id: int  # resolved type id (0: unresolved); for set/set8, the member count
    stored: int | None  # the 32-bit value the file holds there now (None: outside the section)
    flags: int | None  # set8 members: the flags word after the id; set8: the set's flags


def list_slots(path: str, *, btf: str | None = None, base: str | None = None,
               names: NameSource | None = None) -> list[Slot]:
    """Every ``__BTF_ID__*`` symbol of *path*, in address order, with the id it resolves to.
    Nothing is written and no warning is printed."""
    fd = _open(path, os.O_RDONLY)
    try:
        prep = _prepare(fd, path, quiet)
        if prep is None:
            return []
        if names is None:
            names = load_names(prep.layout, path, btf, base)
        resolve_ids(prep.collected, names, quiet)
    finally:
        os.close(fd)
    e = "<" if prep.layout.little_endian else ">"
    sec = prep.section
    slots = []
    for sym, entry in prep.collected.symbols:
        off = (sym.value - prep.idlist.addr) & ((1 << 64) - 1)
        stored = flags = None
        if off + 4 <= len(sec):
            stored = struct.unpack_from(e + "I", sec, off)[0]
        if (entry.is_set8 or _in_set8(prep.collected, sym.value)) and off + 8 <= len(sec):
            flags = struct.unpack_from(e + "I", sec, off + 4)[0]
        slots.append(Slot(off, _show(sym.name), entry.kind, _show(entry.name), entry.id, stored,
                          flags))
    slots.sort(key=lambda s: (s.offset, s.kind not in ("set", "set8")))
    return slots


def _in_set8(col: Collected, addr: int) -> bool:
    for s in col.sets.values():
        if s.is_set8 and s.addrs:
            start = s.addrs[0] + 8
            if start <= addr < start + 8 * max(s.id, 0) and (addr - start) % 8 == 0:
                return True
    return False


def format_slots(slots: list[Slot], path: str) -> str:
    """Plain aligned text for ``btfbuild btfids``: one line per slot, then a summary."""
    if not slots:
        return f"{path}: no .BTF_ids symbols\n"
    rows = [("OFFSET", "KIND", "NAME", "ID", "IN FILE", "FLAGS", "SYMBOL")]
    unresolved = 0
    for s in slots:
        if s.kind in ("set", "set8"):
            ident = f"cnt {s.id}"
        elif s.id:
            ident = str(s.id)
        else:
            ident = "unresolved"
            unresolved += 1
        rows.append((f"0x{s.offset:x}", s.kind, s.name, ident,
                     "-" if s.stored is None else str(s.stored),
                     "" if s.flags is None else f"0x{s.flags:x}", s.symbol))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
             for r in rows]
    names = sum(1 for s in slots if s.kind not in ("set", "set8"))
    lines.append(f"{len(slots)} symbols ({names} id slots, {len(slots) - names} sets), "
                 f"{unresolved} unresolved")
    return "\n".join(lines) + "\n"
