"""bpftool's ``btf dump file F`` raw text and ``-j`` JSON formats (bpftool 7.5).

One line per type, ``[id] KIND 'name' fields...``, then one tab-indented line per member, value,
parameter or section variable. Split BTF lists only its own types, with ids continuing after the
base, as bpftool does.
"""

from __future__ import annotations

import struct
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


class _Lookup(dict[int, str]):
    """A dict with a fallback for keys it lacks: ``d[k]`` without a ``get`` call."""

    def __init__(self, items: dict[int, str], default: str) -> None:
        super().__init__(items)
        self.default = default

    def __missing__(self, key: int) -> str:
        return self.default


# members and parameters as BTF words (``words()`` of a struct, union or prototype): decoding
# them is cheaper than building their objects
_MEMBER = struct.Struct("=III")
_PARAM = struct.Struct("=II")

_INT_ENC = _Lookup({0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}, "UNKN")
_LINKAGE = _Lookup({0: "static", 1: "global", 2: "extern"}, "(unknown)")


_KIND_NAMES = {cls: cls.kind.name for cls in KIND_CLASSES.values()}
_REF_NAMES = {cls: name for cls, name in _KIND_NAMES.items() if issubclass(cls, RefType)}


def _kind_name(t: BtfType) -> str:
    if isinstance(t, Unknown):
        return Kind(t.raw_kind).name if t.raw_kind <= Kind.ENUM64 else "UNKN"
    return _KIND_NAMES[type(t)]


class _Names(dict[int, str]):
    """bpftool's name rendering: ``(anon)`` for offset 0, ``(invalid)`` outside the table.

    Filled up front with every string of the table, so the hot lookup is ``names[off]`` with
    no Python call; other offsets (inside a string, or invalid) are resolved on first use."""

    def __init__(self, btf: Btf) -> None:
        super().__init__(btf.strings.items())
        self._get = btf.strings.get
        self[0] = "(anon)"

    def __missing__(self, off: int) -> str:
        try:
            s = self._get(off)
        except IndexError:
            s = "(invalid)"
        self[off] = s
        return s


def _render(btf: Btf, items: Iterable[tuple[int, Any]], name: _Names, lines: list[str]) -> None:
    """Append the lines of *items* to *lines*. The hot loop of ``btfbuild dump``: one f-string
    per line, dispatch on the exact class (the common kinds first), names from a dict; the
    types are ``Any`` because ``type(t) is X`` does not narrow for mypy, and an isinstance
    per type to say what the dispatch already knows would cost time."""
    ap = lines.append
    linkage = _LINKAGE
    member_triples = _MEMBER.iter_unpack
    param_pairs = _PARAM.iter_unpack
    ref_names = _REF_NAMES
    for tid, t in items:
        cls = type(t)
        if cls is Func:
            ap(f"[{tid}] FUNC '{name[t.name_off]}' type_id={t.type_id} "
               f"linkage={linkage[t.linkage]}")
        elif cls is FuncProto:
            ap(f"[{tid}] FUNC_PROTO '{name[t.name_off]}' ret_type_id={t.ret_type_id} "
               f"vlen={t.vlen}")
            for name_off, type_id in param_pairs(t.words()):
                ap(f"\t'{name[name_off]}' type_id={type_id}")
        elif cls in ref_names:
            ap(f"[{tid}] {ref_names[cls]} '{name[t.name_off]}' type_id={t.type_id}")
        elif cls is Struct or cls is Union:
            ap(f"[{tid}] {'STRUCT' if cls is Struct else 'UNION'} '{name[t.name_off]}' "
               f"size={t.size} vlen={t.vlen}")
            if t.bitfield_encoding:
                for name_off, type_id, offset in member_triples(t.words()):
                    if offset >> 24:
                        ap(f"\t'{name[name_off]}' type_id={type_id} "
                           f"bits_offset={offset & 0xFFFFFF} bitfield_size={offset >> 24}")
                    else:
                        ap(f"\t'{name[name_off]}' type_id={type_id} bits_offset={offset}")
            else:
                for name_off, type_id, offset in member_triples(t.words()):
                    ap(f"\t'{name[name_off]}' type_id={type_id} bits_offset={offset}")
        elif cls is Array:
            ap(f"[{tid}] ARRAY '{name[t.name_off]}' type_id={t.type_id} "
               f"index_type_id={t.index_type_id} nr_elems={t.nelems}")
        elif cls is Enum or cls is Enum64:
            ap(f"[{tid}] {'ENUM' if cls is Enum else 'ENUM64'} '{name[t.name_off]}' "
               f"encoding={'SIGNED' if t.signed else 'UNSIGNED'} size={t.size} "
               f"vlen={t.vlen}")
            suffix = "" if cls is Enum else "LL" if t.signed else "ULL"
            for name_off, value in t.value_pairs():
                ap(f"\t'{name[name_off]}' val={value}{suffix}")
        elif cls is Int:
            ap(f"[{tid}] INT '{name[t.name_off]}' size={t.size} bits_offset={t.bit_offset} "
               f"nr_bits={t.bits} encoding={_INT_ENC[t.encoding]}")
        elif cls is Fwd:
            ap(f"[{tid}] FWD '{name[t.name_off]}' "
               f"fwd_kind={'union' if t.is_union else 'struct'}")
        elif cls is Var:
            ap(f"[{tid}] VAR '{name[t.name_off]}' type_id={t.type_id}, "
               f"linkage={linkage[t.linkage]}")
        elif cls is Datasec:
            ap(f"[{tid}] DATASEC '{name[t.name_off]}' size={t.size} vlen={len(t.vars)}")
            type_count = btf.type_count
            for v in t.vars:
                line = f"\ttype_id={v.type_id} offset={v.offset} size={v.size}"
                if v.type_id < type_count:
                    vt = btf.type(v.type_id)
                    line += f" ({_kind_name(vt)} '{name[vt.name_off]}')"
                ap(line)
        elif cls is Float:
            ap(f"[{tid}] FLOAT '{name[t.name_off]}' size={t.size}")
        elif cls is DeclTag:
            ap(f"[{tid}] DECL_TAG '{name[t.name_off]}' type_id={t.type_id} "
               f"component_idx={t.component_idx}")
        else:
            ap(f"[{tid}] {_kind_name(t)} '{name[t.name_off]}'")


def raw_lines(btf: Btf, ids: Iterable[int] | None = None) -> Iterator[str]:
    """The text of ``bpftool btf dump file``, one type (possibly multi-line) per item."""
    name = _Names(btf)
    items: Iterable[tuple[int, BtfType]] = (
        iter(btf) if ids is None else ((i, btf.type(i)) for i in ids)
    )
    lines: list[str] = []
    for item in items:
        _render(btf, (item,), name, lines)
        yield "\n".join(lines)
        lines.clear()


_CHUNK = 4096  # types per write: large writes, bounded memory


def dump_raw(btf: Btf, out: Any, ids: Iterable[int] | None = None) -> None:
    name = _Names(btf)
    write = out.write
    lines: list[str] = []
    if ids is None:
        types = btf.types
        for i in range(0, len(types), _CHUNK):
            _render(btf, zip(range(btf.start_id + i, btf.start_id + i + _CHUNK),
                             types[i : i + _CHUNK], strict=False), name, lines)
            lines.append("")
            write("\n".join(lines))
            lines.clear()
        return
    for tid in ids:
        _render(btf, ((tid, btf.type(tid)),), name, lines)
        if len(lines) >= _CHUNK:
            lines.append("")
            write("\n".join(lines))
            lines.clear()
    if lines:
        lines.append("")
        write("\n".join(lines))


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
    import json  # here: the raw text format, the one that counts for speed, needs none

    name = _Names(btf)
    items = iter(btf) if ids is None else ((i, btf.type(i)) for i in ids)
    doc = {"types": [_json_type(btf, tid, t, name) for tid, t in items]}
    json.dump(doc, out, ensure_ascii=False)
    out.write("\n")
