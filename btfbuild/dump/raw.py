"""bpftool's ``btf dump file F`` raw text and ``-j`` JSON formats (bpftool 7.5).

One line per type, ``[id] KIND 'name' fields...``, then one tab-indented line per member, value,
parameter or section variable. Split BTF lists only its own types, with ids continuing after the
base, as bpftool does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from ..btf.model import Btf
from ..btf.types import (
    KIND_CLASSES,
    Array,
    BtfType,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Kind,
    RefType,
    Struct,
    Union,
    Unknown,
    Var,
)

_INT_ENC = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}
_LINKAGE = {0: "static", 1: "global", 2: "extern"}


_KIND_NAMES = {cls: cls.kind.name for cls in KIND_CLASSES.values()}


def _kind_name(t: BtfType) -> str:
    if isinstance(t, Unknown):
        return Kind(t.raw_kind).name if t.raw_kind <= Kind.ENUM64 else "UNKN"
    return _KIND_NAMES[type(t)]


class _Names(dict[int, str]):
    """bpftool's name rendering: ``(anon)`` for offset 0, ``(invalid)`` outside the table.

    A dict filled on first use, so the hot lookup is ``names[off]`` with no Python call."""

    def __init__(self, btf: Btf) -> None:
        super().__init__()
        self._get = btf.strings.get
        self[0] = "(anon)"

    def __missing__(self, off: int) -> str:
        try:
            s = self._get(off)
        except IndexError:
            s = "(invalid)"
        self[off] = s
        return s


def raw_lines(btf: Btf, ids: Iterable[int] | None = None) -> Iterator[str]:
    """The text of ``bpftool btf dump file``, one type (possibly multi-line) per item."""
    name = _Names(btf)
    type_count = btf.type_count
    items: Iterable[tuple[int, BtfType]] = (
        iter(btf) if ids is None else ((i, btf.type(i)) for i in ids)
    )
    kind_names = _KIND_NAMES
    for tid, t in items:
        cls = type(t)
        head = f"[{tid}] {kind_names.get(cls) or _kind_name(t)} '{name[t.name_off]}'"
        if isinstance(t, Func):
            yield f"{head} type_id={t.type_id} linkage={_LINKAGE.get(t.linkage, '(unknown)')}"
        elif isinstance(t, FuncProto):
            parts = [f"{head} ret_type_id={t.ret_type_id} vlen={len(t.params)}"]
            parts.extend([f"\t'{name[p.name_off]}' type_id={p.type_id}" for p in t.params])
            yield "\n".join(parts)
        elif isinstance(t, RefType):
            yield f"{head} type_id={t.type_id}"
        elif isinstance(t, Struct | Union):
            parts = [f"{head} size={t.size} vlen={len(t.members)}"]
            for m in t.members:
                if m.bitfield_size:
                    parts.append(f"\t'{name[m.name_off]}' type_id={m.type_id} "
                                 f"bits_offset={m.bit_offset} bitfield_size={m.bitfield_size}")
                else:
                    parts.append(f"\t'{name[m.name_off]}' type_id={m.type_id} "
                                 f"bits_offset={m.bit_offset}")
            yield "\n".join(parts)
        elif isinstance(t, Int):
            yield (f"{head} size={t.size} bits_offset={t.bit_offset} nr_bits={t.bits} "
                   f"encoding={_INT_ENC.get(t.encoding, 'UNKN')}")
        elif isinstance(t, Enum):
            enc = "SIGNED" if t.signed else "UNSIGNED"
            parts = [f"{head} encoding={enc} size={t.size} vlen={len(t.values)}"]
            parts.extend(f"\t'{name[v.name_off]}' val={v.value}" for v in t.values)
            yield "\n".join(parts)
        elif isinstance(t, Enum64):
            enc = "SIGNED" if t.signed else "UNSIGNED"
            suffix = "LL" if t.signed else "ULL"
            parts = [f"{head} encoding={enc} size={t.size} vlen={len(t.values)}"]
            parts.extend(f"\t'{name[v.name_off]}' val={v.value}{suffix}" for v in t.values)
            yield "\n".join(parts)
        elif isinstance(t, Array):
            yield (f"{head} type_id={t.type_id} index_type_id={t.index_type_id} "
                   f"nr_elems={t.nelems}")
        elif isinstance(t, Fwd):
            yield f"{head} fwd_kind={'union' if t.is_union else 'struct'}"
        elif isinstance(t, Var):
            yield f"{head} type_id={t.type_id}, linkage={_LINKAGE.get(t.linkage, '(unknown)')}"
        elif isinstance(t, Datasec):
            parts = [f"{head} size={t.size} vlen={len(t.vars)}"]
            for v in t.vars:
                line = f"\ttype_id={v.type_id} offset={v.offset} size={v.size}"
                if v.type_id < type_count:
                    vt = btf.type(v.type_id)
                    line += f" ({_kind_name(vt)} '{name[vt.name_off]}')"
                parts.append(line)
            yield "\n".join(parts)
        elif isinstance(t, Float):
            yield f"{head} size={t.size}"
        elif isinstance(t, DeclTag):
            yield f"{head} type_id={t.type_id} component_idx={t.component_idx}"
        else:
            yield head


def dump_raw(btf: Btf, out: Any, ids: Iterable[int] | None = None) -> None:
    write = out.write
    batch: list[str] = []
    for text in raw_lines(btf, ids):
        batch.append(text)
        if len(batch) >= 4096:
            batch.append("")
            write("\n".join(batch))
            batch.clear()
    if batch:
        batch.append("")
        write("\n".join(batch))


def _json_type(btf: Btf, tid: int, t: BtfType, name: _Names) -> dict[str, Any]:
    d: dict[str, Any] = {"id": tid, "kind": _kind_name(t), "name": name[t.name_off]}
    if isinstance(t, RefType):
        d["type_id"] = t.type_id
    elif isinstance(t, Struct | Union):
        d["size"] = t.size
        d["vlen"] = len(t.members)
        members = []
        for m in t.members:
            md: dict[str, Any] = {"name": name[m.name_off], "type_id": m.type_id,
                                  "bits_offset": m.bit_offset}
            if m.bitfield_size:
                md["bitfield_size"] = m.bitfield_size
            members.append(md)
        d["members"] = members
    elif isinstance(t, FuncProto):
        d["ret_type_id"] = t.ret_type_id
        d["vlen"] = len(t.params)
        d["params"] = [{"name": name[p.name_off], "type_id": p.type_id} for p in t.params]
    elif isinstance(t, Func):
        d["type_id"] = t.type_id
        d["linkage"] = _LINKAGE.get(t.linkage, "(unknown)")
    elif isinstance(t, Int):
        d.update(size=t.size, bits_offset=t.bit_offset, nr_bits=t.bits,
                 encoding=_INT_ENC.get(t.encoding, "UNKN"))
    elif isinstance(t, Enum | Enum64):
        d["encoding"] = "SIGNED" if t.signed else "UNSIGNED"
        d["size"] = t.size
        d["vlen"] = len(t.values)
        d["values"] = [{"name": name[v.name_off], "val": v.value} for v in t.values]
    elif isinstance(t, Array):
        d.update(type_id=t.type_id, index_type_id=t.index_type_id, nr_elems=t.nelems)
    elif isinstance(t, Fwd):
        d["fwd_kind"] = "union" if t.is_union else "struct"
    elif isinstance(t, Var):
        d["type_id"] = t.type_id
        d["linkage"] = _LINKAGE.get(t.linkage, "(unknown)")
    elif isinstance(t, Datasec):
        d["size"] = t.size
        d["vlen"] = len(t.vars)
        d["vars"] = [{"type_id": v.type_id, "offset": v.offset, "size": v.size} for v in t.vars]
    elif isinstance(t, Float):
        d["size"] = t.size
    elif isinstance(t, DeclTag):
        d["type_id"] = t.type_id
        d["component_idx"] = t.component_idx
    return d


def dump_json(btf: Btf, out: Any, ids: Iterable[int] | None = None) -> None:
    """bpftool's ``-j btf dump file`` document: ``{"types": [...]}``."""
    name = _Names(btf)
    items = iter(btf) if ids is None else ((i, btf.type(i)) for i in ids)
    doc = {"types": [_json_type(btf, tid, t, name) for tid, t in items]}
    json.dump(doc, out, ensure_ascii=False)
    out.write("\n")
