"""Resolving collected names to type ids and patching the ``.BTF_ids`` bytes, as the kernel does.

The kernel tool walks every type id in ascending order and, for a FUNC/STRUCT/UNION/TYPEDEF
whose name was collected, takes the first id it meets; a later id with the same kind and name
gets "WARN: multiple IDs found" -- but only while that kind still has unresolved symbols, counted
per *symbol* (a name used in two slots counts twice and so is never "done"). Replaying that walk
over just the matching ids (see :mod:`.btfnames`) gives the same ids and the same warnings in the
same order, without visiting the other 100,000 types.

Patching then goes kind by kind (struct, union, typedef, func, then sets), each kind in
*descending* name order (the kernel's rb-tree is built reversed), writing every slot; a set's
slot gets its member count. Finally each set is sorted in place: a BTF_SET's ids as signed
32-bit values, a BTF_SET8's (id, flags) pairs by id with each flags word kept with its id, the
sort stable as glibc's merge sort is. Values are in the ELF file's byte order.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .btfnames import KIND_OF, NameSource
from .errors import BtfIdsError, Log
from .symbols import SYM_KINDS, BtfIdName, Collected, _show

_U64 = (1 << 64) - 1


class Patched(NamedTuple):
    data: bytes  # the new .BTF_ids contents
    warnings: int  # WARN lines printed (unresolved symbols, multiple ids)


def resolve_ids(col: Collected, names: NameSource, log: Log) -> int:
    """Set ``id`` on every collected name; returns the number of warnings printed."""
    wanted = {KIND_OF[k]: list(col.names[k]) for k in SYM_KINDS if col.names[k]}
    found = names.lookup(wanted)
    events: list[tuple[int, str, bytes]] = []
    for k in SYM_KINDS:
        for name, ids in found.get(KIND_OF[k], {}).items():
            events.extend((tid, k, name) for tid in ids)
    events.sort()
    left = dict(col.counts)
    warnings = 0
    for tid, kind, name in events:
        if not left[kind]:
            continue
        entry = col.names[kind][name]
        if entry.id:
            log(0, f"WARN: multiple IDs found for '{_show(name)}': {entry.id}, {tid} - "
                   f"using {entry.id}")
            warnings += 1
        else:
            entry.id = tid
            left[kind] -= 1
    return warnings


def patch_section(section: bytes, col: Collected, section_addr: int, little_endian: bool,
          log: Log) -> Patched:
    """The section with every slot written and every set sorted."""
    buf = bytearray(section)
    size = len(buf)
    e = "<" if little_endian else ">"
    put = struct.Struct(e + "i").pack_into
    warnings = 0

    def ordered(tree: dict[bytes, BtfIdName]) -> list[BtfIdName]:
        return sorted(tree.values(), key=lambda n: n.name, reverse=True)

    for tree in (*(col.names[k] for k in SYM_KINDS), col.sets):
        for entry in ordered(tree):
            if not entry.id and not entry.is_set and not entry.is_set8:
                log(0, f"WARN: resolve_btfids: unresolved symbol {_show(entry.name)}")
                warnings += 1
            for addr in entry.addrs:
                idx = (addr - section_addr) & _U64
                log(1, f"patching addr {idx:5d}: ID {entry.id:7d} [{_show(entry.name)}]")
                if idx >= size:
                    raise BtfIdsError(f"FAILED patching index {idx} out of bounds {size}")
                slot = idx & ~3
                if slot + 4 > size:
                    raise BtfIdsError(f"FAILED patching index {idx}: slot runs past the end of "
                                      f"the section ({size} bytes)")
                put(buf, slot, entry.id)

    get_i32 = struct.Struct(e + "i").unpack_from
    for entry in ordered(col.sets):
        if len(entry.addrs) != 1:
            raise BtfIdsError(f"FAILED malformed data for set '{_show(entry.name)}'")
        off = (entry.addrs[0] - section_addr) & _U64
        head = width = 8 if entry.is_set8 else 4
        if off + 4 > size:
            raise BtfIdsError(f"FAILED set '{_show(entry.name)}' at {off} is outside the section "
                              f"({size} bytes)")
        cnt, = get_i32(buf, off)
        end = off + head + width * cnt
        if cnt < 0 or end > size:
            raise BtfIdsError(f"FAILED malformed set '{_show(entry.name)}': {cnt} members from "
                              f"offset {off} run past the end of the section ({size} bytes)")
        if cnt:
            start = off + head
            if entry.is_set8:
                pairs = [bytes(buf[p : p + 8]) for p in range(start, end, 8)]
                idfmt = struct.Struct(e + "i").unpack_from
                pairs.sort(key=lambda pair: idfmt(pair)[0])
                buf[start:end] = b"".join(pairs)
            else:
                fmt = f"{e}{cnt}i"
                values = sorted(struct.unpack_from(fmt, buf, start))
                struct.pack_into(fmt, buf, start, *values)
        log(1, f"sorting  addr {off:5d}: cnt {cnt:6d} [{_show(entry.name)}]")
    return Patched(bytes(buf), warnings)
