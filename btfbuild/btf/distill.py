"""Distilled base BTF (libbpf 1.5 ``btf__distill_base``), as pahole's ``distilled_base`` writes it.

A module's split BTF normally continues the ids of the vmlinux it was built against, so it is
only usable with that exact vmlinux. Distilling replaces that base with a small one, the
``.BTF.base`` section, that only *names* the vmlinux types the module uses, so the module's
``.BTF`` can be relocated (:mod:`btfbuild.btf.relocate`) onto another kernel's vmlinux BTF.

What happens to each base type the split BTF refers to, directly or through other base types:

* named int, float and forward declaration: copied into the distilled base as they are;
* named struct and union: an empty (vlen 0) struct/union of the same size in the distilled base;
  their members are not followed. The size is what relocation checks for composites the module
  embeds and for names vmlinux uses more than once;
* named enum and enum64: an empty, unsigned ENUM of the same size in the distilled base (an
  enum64 becomes a size-8 ENUM, so relocation can match it to either kind);
* anonymous struct, union, enum, enum64, and every array, typedef, pointer, qualifier, function
  prototype and type tag: copied whole into the new split BTF, after the module's own types, in
  base id order.

The new split BTF starts with the module's own types in their order, then those moved types. All
type ids are remapped; strings are laid out again (a name already in the distilled base is
shared with it), so the result is byte for byte what libbpf produces from the same input.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BtfbuildError
from .model import Btf
from .relocate import describe, kind_word, rewrite_type
from .types import (
    Array,
    BtfType,
    Composite,
    Const,
    Enum,
    Enum64,
    Float,
    FuncProto,
    Fwd,
    Int,
    Ptr,
    Restrict,
    Typedef,
    TypeTag,
    Volatile,
)

# base kinds split BTF may refer to (others, e.g. a FUNC or VAR of vmlinux, make no sense there)
_REFERABLE = (Int, Float, Fwd, Array, Composite, Typedef, Enum, Enum64, Ptr, Const, Restrict,
              Volatile, FuncProto, TypeTag)


class DistillError(BtfbuildError):
    """The split BTF cannot be distilled: no base, or it refers to base types it should not."""


@dataclass(frozen=True, slots=True)
class Distilled:
    base: Btf  # the new distilled base (the .BTF.base section)
    split: Btf  # the new split BTF over it (the .BTF section)
    id_map: dict[int, int]  # old id (unified view of the input) -> new id (unified view)


def distill_base(split: Btf) -> tuple[Btf, Btf]:
    """The distilled base of *split* and *split* rewritten over it: ``(new_base, new_split)``."""
    d = distill(split)
    return d.base, d.split


def distill(split: Btf) -> Distilled:
    """:func:`distill_base` that also returns the mapping of old type ids to new ones."""
    old_base = split.base
    if old_base is None:
        raise DistillError("not split BTF: there is no base to distill")
    split_start = split.start_id
    used = _used_base_ids(split, split_start)

    new_base = Btf(endian=split.endian)
    id_map: dict[int, int] = {}
    to_split: list[int] = []
    for old in sorted(used):
        t = split.type(old)
        named = t.name_off != 0
        new: BtfType
        if isinstance(t, Int | Float | Fwd):
            new = rewrite_type(t, _no_ids, lambda off: new_base.add_str(split.str(off)))
        elif isinstance(t, Composite) and named:
            new = type(t)(new_base.add_str(split.name(t)), t.size)
        elif isinstance(t, Enum | Enum64) and named:
            new = Enum(new_base.add_str(split.name(t)), t.size)
        else:
            to_split.append(old)
            continue
        id_map[old] = new_base.add(new)

    new_split = Btf(new_base)
    diff = split_start - new_base.type_count

    def ids(i: int) -> int:
        if i >= split_start:
            return i - diff
        return id_map[i] if i else 0

    def strs(off: int) -> int:
        return new_split.add_str(split.str(off)) if off else 0

    for i in range(split_start, split.type_count):
        id_map[i] = i - diff
    # ids of the moved types are known before they are copied: they follow the split types
    for n, old in enumerate(to_split, split.type_count - diff):
        id_map[old] = n
    for t in split.types:
        new_split.add(rewrite_type(t, ids, strs))
    for old in to_split:
        new_split.add(rewrite_type(split.type(old), ids, strs))
    new_split.flags = split.flags
    return Distilled(new_base, new_split, id_map)


def _no_ids(i: int) -> int:
    return i


def _used_base_ids(split: Btf, split_start: int) -> set[int]:
    """Base ids the split types refer to, following base types except named structs/unions
    (their distilled form has no members)."""
    used: set[int] = set()
    for sid, t in split:
        stack = [(sid, t)]
        while stack:
            from_id, cur = stack.pop()
            for ref in cur.referenced_ids():
                if not ref or ref >= split_start or ref in used:
                    continue
                bt = split.type(ref)
                if not isinstance(bt, _REFERABLE):
                    raise DistillError(
                        f"type [{from_id}] {describe(split, cur, from_id)} refers to base type "
                        f"[{ref}] {describe(split, bt, ref)}, a {kind_word(bt)}: split BTF "
                        "should only refer to data types of its base")
                used.add(ref)
                if isinstance(bt, Composite) and bt.name_off:
                    continue
                stack.append((ref, bt))
    return used

