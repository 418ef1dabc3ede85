"""The structural checks libbpf makes before it will use BTF (``btf_sanity_check``).

Every name offset must point into the string table and every referenced type id must exist, so
that tools on the model can follow names and references without further checks. This is much less
than the kernel's validation (:mod:`btfbuild.check`); it is what bpftool needs to dump a file.

A base table and a split table over it cover offsets ``[0, end)`` without a gap, so an offset is
valid exactly when it is below the split table's end; the fast path only tracks maxima and the
slow path runs to name the first offender. The reader gathers those maxima while it decodes
(:func:`btfbuild.btf.raw.parse_with_limits`), so checking freshly read BTF costs no pass at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from ..errors import BtfFormatError
from .model import Btf
from .types import (
    BtfType,
    Composite,
    Const,
    Enum,
    Enum64,
    Func,
    FuncProto,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Unknown,
    Var,
    Volatile,
)


class SanityLimits(NamedTuple):
    """What the fast path needs of a type list, as the reader gathers it."""

    max_name: int  # largest name offset of a type, member, parameter or enum value
    max_ref: int  # largest type id referenced
    unknown: bool  # some record is kept raw (Unknown): the slow path reports it


_SINGLE_REF = frozenset((Ptr, Typedef, Volatile, Const, Restrict, TypeTag, Var))


def _sub_names(t: BtfType) -> Iterator[int]:
    if isinstance(t, Composite):
        yield from (m.name_off for m in t.members)
    elif isinstance(t, Enum | Enum64):
        yield from (v.name_off for v in t.values)
    elif isinstance(t, FuncProto):
        yield from (p.name_off for p in t.params)


def sanity_check(btf: Btf, limits: SanityLimits | None = None) -> None:
    """Raise :class:`BtfFormatError` naming the first bad type of *btf*'s own types.

    *limits*, from :func:`~btfbuild.btf.raw.parse_with_limits` of the same, unmodified types,
    replaces the pass that would compute them."""
    str_end = btf.strings.end
    count = btf.type_count
    if limits is not None:
        if not limits.unknown and limits.max_name < str_end and limits.max_ref < count:
            return
        _report_first(btf)
        return
    max_name = 0
    max_ref = 0
    for t in btf.types:
        cls = type(t)
        if t.name_off > max_name:
            max_name = t.name_off
        if cls is Func or cls in _SINGLE_REF:
            if t.type_id > max_ref:  # type: ignore[attr-defined]
                max_ref = t.type_id  # type: ignore[attr-defined]
        elif cls is FuncProto:
            assert isinstance(t, FuncProto)
            if t.params:
                max_ref = max(max_ref, t.ret_type_id, *[p.type_id for p in t.params])
                max_name = max(max_name, *[p.name_off for p in t.params])
            elif t.ret_type_id > max_ref:
                max_ref = t.ret_type_id
        elif cls is Struct or cls is Union:
            assert isinstance(t, Composite)
            if t.members:
                max_ref = max(max_ref, *[m.type_id for m in t.members])
                max_name = max(max_name, *[m.name_off for m in t.members])
        elif cls is Unknown:
            break
        else:
            refs = t.referenced_ids()
            if refs:
                max_ref = max(max_ref, *refs)
            if isinstance(t, Enum | Enum64) and t.values:
                max_name = max(max_name, *[v.name_off for v in t.values])
    else:
        if max_name < str_end and max_ref < count:
            return
    _report_first(btf)


def _report_first(btf: Btf) -> None:
    """The slow path: find the first bad type and raise for it."""
    str_end = btf.strings.end
    count = btf.type_count
    for tid, t in btf:
        if isinstance(t, Unknown):
            raise BtfFormatError(f"type [{tid}] kind {t.raw_kind}: {t.reason}")
        for off in (t.name_off, *_sub_names(t)):
            if off >= str_end:
                raise BtfFormatError(f"type [{tid}] {t.kind.name}: invalid name offset {off}")
        for ref in t.referenced_ids():
            if ref >= count:
                raise BtfFormatError(f"type [{tid}] {t.kind.name}: invalid type id {ref}")
