"""Relocation of split BTF from its distilled base onto a full base (libbpf 1.5 ``btf__relocate``).

A module built with a distilled base carries, in ``.BTF.base``, only the names (and sizes) of the
vmlinux types its ``.BTF`` refers to. Relocation finds each of them in the real vmlinux BTF and
rewrites the module's type ids and string offsets so that the module's types sit on top of that
vmlinux, exactly as the kernel does at module load (``btf_parse_module`` → ``btf_relocate``) and
libbpf does when a tool opens such a module with a base (``btf__parse_split``).

Matching rules (``tools/lib/bpf/btf_relocate.c`` of Linux 6.12, shared by kernel and libbpf):

* a distilled type matches a base type of the same name; ints, floats and enums must have the
  same size, ints the same encoding;
* a distilled enum matches an enum or an enum64 of its size;
* a distilled forward declaration matches a forward of the same flavour, or a struct whose
  kind_flag is clear, or a union whose kind_flag is set (the rule reads the composite's
  bitfield-encoding flag as if it were a forward's union flag; kept as is, since the kernel
  applies it too);
* a distilled struct or union matches by name; by size as well when vmlinux has several
  composites of that name, or when the module embeds it (a member of a module struct/union of
  that type, possibly through typedefs, qualifiers and arrays — not pointers);
* two base types matching one distilled type is an error (there is no way to choose).

Unlike libbpf, which stops at the first problem, :func:`relocate` checks every distilled type and
raises one :class:`RelocationError` listing each incompatible type with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import BtfbuildError
from .model import Btf
from .strings import StringTable
from .types import (
    Array,
    BtfType,
    Composite,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Kind,
    Member,
    Param,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Unknown,
    Var,
    VarSecinfo,
    Volatile,
)

IdMap = Callable[[int], int]
StrMap = Callable[[int], int]

_PLAIN_REFS = (Ptr, Typedef, Volatile, Const, Restrict)
_EMBED_THROUGH = (Const, Restrict, Volatile, Typedef, TypeTag, Array)
_DISTILLED_KINDS = (Int, Float, Enum, Struct, Union, Fwd)
_MATCHABLE = frozenset((Int, Float, Enum, Enum64, Fwd, Struct, Union))

_KIND_WORDS = {
    Kind.INT: "int", Kind.PTR: "pointer", Kind.ARRAY: "array", Kind.STRUCT: "struct",
    Kind.UNION: "union", Kind.ENUM: "enum", Kind.FWD: "forward declaration",
    Kind.TYPEDEF: "typedef", Kind.VOLATILE: "volatile", Kind.CONST: "const",
    Kind.RESTRICT: "restrict", Kind.FUNC: "function", Kind.FUNC_PROTO: "function prototype",
    Kind.VAR: "variable", Kind.DATASEC: "data section", Kind.FLOAT: "float",
    Kind.DECL_TAG: "decl tag", Kind.TYPE_TAG: "type tag", Kind.ENUM64: "enum64",
}


class RelocationError(BtfbuildError):
    """Split BTF cannot be put on the given base; ``problems`` names each incompatible type."""

    def __init__(self, message: str, problems: list[Incompatibility] | None = None) -> None:
        super().__init__(message)
        self.problems: list[Incompatibility] = problems or []


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """A distilled base type with no usable counterpart in the new base."""

    type_id: int  # in the distilled base
    what: str  # "struct sk_buff"
    reason: str  # "size 232 in the module's base, 240 in vmlinux; embedded in struct foo"

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"


# -- copying a type with its ids and names rewritten -------------------------------------------


def rewrite_type(t: BtfType, ids: IdMap, strs: StrMap) -> BtfType:
    """A copy of *t* with every type id passed through *ids* and every name offset through *strs*.

    Names are mapped in encoding order (the type's name, then member/value/parameter names), so a
    *strs* that appends to a string table lays it out as libbpf's ``btf__add_type`` does.
    """
    n = strs(t.name_off)
    if isinstance(t, _PLAIN_REFS):
        return type(t)(n, ids(t.type_id))
    if isinstance(t, Composite):
        return type(t)(n, t.size,
                       [Member(strs(m.name_off), ids(m.type_id), m.bit_offset, m.bitfield_size)
                        for m in t.members], t.bitfield_encoding)
    if isinstance(t, FuncProto):
        ret = ids(t.ret_type_id)
        return FuncProto(n, ret, [Param(strs(p.name_off), ids(p.type_id)) for p in t.params])
    if isinstance(t, Func):
        return Func(n, ids(t.type_id), t.linkage)
    if isinstance(t, Int):
        return Int(n, t.size, t.encoding, t.bit_offset, t.bits)
    if isinstance(t, Enum | Enum64):
        return type(t)(n, t.size, [EnumValue(strs(v.name_off), v.value) for v in t.values],
                       t.signed)
    if isinstance(t, Array):
        return Array(n, ids(t.type_id), ids(t.index_type_id), t.nelems)
    if isinstance(t, Fwd):
        return Fwd(n, t.is_union)
    if isinstance(t, Float):
        return Float(n, t.size)
    if isinstance(t, TypeTag):
        return TypeTag(n, ids(t.type_id), t.is_attr)
    if isinstance(t, Var):
        return Var(n, ids(t.type_id), t.linkage)
    if isinstance(t, Datasec):
        return Datasec(n, t.size, [VarSecinfo(ids(v.type_id), v.offset, v.size) for v in t.vars])
    if isinstance(t, DeclTag):
        return DeclTag(n, ids(t.type_id), t.component_idx, t.is_attr)
    if isinstance(t, Unknown):
        raise BtfbuildError(f"cannot rewrite a malformed type record (kind {t.raw_kind}): "
                            f"{t.reason}")
    raise TypeError(f"cannot rewrite {type(t).__name__}")


# -- descriptions used in messages ---------------------------------------------------------------


def kind_word(t: BtfType) -> str:
    return _KIND_WORDS.get(t.kind, t.kind.name.lower())


def describe(btf: Btf, t: BtfType, type_id: int | None = None) -> str:
    """How a C programmer would name *t*: ``struct sk_buff``, ``int 'long int'``..."""
    name = btf.name(t) if t.name_off else ""
    if isinstance(t, Fwd):
        return f"{'union' if t.is_union else 'struct'} {name or '(anon)'} (forward declaration)"
    if isinstance(t, Struct | Union | Enum | Enum64):
        word = "enum" if isinstance(t, Enum | Enum64) else kind_word(t)
        if name:
            return f"{word} {name}"
        return f"anonymous {word}" + (f" [{type_id}]" if type_id is not None else "")
    if name:
        return f"{kind_word(t)} '{name}'"
    return f"anonymous {kind_word(t)}" + (f" [{type_id}]" if type_id is not None else "")


def _size(t: BtfType) -> int:
    """The ``size`` word of a sized kind; 0 for the others (a forward's ``type`` word)."""
    return t.size if isinstance(t, Int | Float | Composite | Enum | Enum64 | Datasec) else 0


def _enc_name(enc: int) -> str:
    names = [f.name for f in (IntEncoding.SIGNED, IntEncoding.CHAR, IntEncoding.BOOL)
             if enc & f and f.name is not None]
    return "|".join(names) or "(none)"


# -- relocation -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Matcher:
    dist: Btf
    base: Btf
    split: Btf
    dist_label: str
    base_label: str
    embedded_in: dict[int, int] = field(default_factory=dict)  # distilled id -> split embedder
    id_map: dict[int, int] = field(default_factory=dict)  # distilled id -> base id
    str_map: dict[int, int] = field(default_factory=dict)  # distilled name -> base name offset
    extra: dict[int, list[int]] = field(default_factory=dict)  # distilled id -> more base ids
    named_in_base: dict[str, list[int]] = field(default_factory=dict)  # for messages only
    by_name: dict[str, list[int]] = field(default_factory=dict)  # distilled ids per name

    def mark_embedded(self) -> None:
        nr_dist = self.dist.type_count
        split = self.split
        for sid, t in split:
            if not isinstance(t, Composite):
                continue
            for m in t.members:
                nxt = m.type_id
                for _ in range(256):  # a chain longer than that is a cycle
                    if not nxt:
                        break
                    u = split.type(nxt)
                    if isinstance(u, _EMBED_THROUGH):
                        nxt = u.type_id
                        continue
                    if isinstance(u, Composite) and nxt < nr_dist:
                        self.embedded_in.setdefault(nxt, sid)
                    break

    def match(self) -> None:
        dist = self.dist
        for did, t in dist:
            self.by_name.setdefault(dist.name(t), []).append(did)
        # names compared as bytes: decoding all of vmlinux's strings would cost more than the rest
        wanted = {name.encode("utf-8", "surrogateescape"): dids
                  for name, dids in self.by_name.items()}
        get_bytes = self.base.strings.get_bytes
        # base types of a matchable kind named like a distilled type, in id order; composites
        # counted by name offset, as the kernel does
        relevant: list[tuple[int, BtfType, list[int]]] = []
        comp_names: dict[int, int] = {}
        for bid, bt in self.base.all_types():
            if type(bt) not in _MATCHABLE or not bt.name_off:
                continue
            dids = wanted.get(get_bytes(bt.name_off))
            if dids is None:
                continue
            relevant.append((bid, bt, dids))
            if isinstance(bt, Composite):
                comp_names[bt.name_off] = comp_names.get(bt.name_off, 0) + 1
        for bid, bt, dids in relevant:
            needs_size = True
            if isinstance(bt, Fwd):
                needs_size = False
            elif isinstance(bt, Composite):
                needs_size = comp_names[bt.name_off] > 1
            for did in dids:
                dt = dist.type(did)
                if needs_size and _size(dt) != _size(bt):
                    continue
                if not self._compatible(did, dt, bt):
                    continue
                if did in self.id_map:
                    self.extra.setdefault(did, []).append(bid)
                    continue
                self.id_map[did] = bid
                self.str_map[dt.name_off] = bt.name_off

    def _compatible(self, did: int, dt: BtfType, bt: BtfType) -> bool:
        if isinstance(dt, Fwd):
            if isinstance(bt, Fwd):
                return dt.is_union == bt.is_union
            if isinstance(bt, Struct):
                return not bt.bitfield_encoding
            if isinstance(bt, Union):
                return bt.bitfield_encoding
            return False
        if isinstance(dt, Int):
            return isinstance(bt, Int) and bt.encoding == dt.encoding
        if isinstance(dt, Float):
            return isinstance(bt, Float)
        if isinstance(dt, Enum):
            return isinstance(bt, Enum | Enum64)
        if isinstance(dt, Composite):
            return not (did in self.embedded_in and _size(bt) != dt.size)
        return False

    # -- why a distilled type found no match ---------------------------------------------------

    def problems(self) -> list[Incompatibility]:
        out: list[Incompatibility] = []
        unmatched = [did for did, _ in self.dist if did in self.extra or did not in self.id_map]
        if not unmatched:
            return out
        # the slow path: every base type named like an unmatched one, whatever its kind
        names = {self.dist.name(did) for did in unmatched}
        self.named_in_base = {}
        for bid, bt in self.base.all_types():
            if bt.name_off and (name := self.base.name(bt)) in names:
                self.named_in_base.setdefault(name, []).append(bid)
        for did in unmatched:
            t = self.dist.type(did)
            if did in self.extra:
                out.append(self._ambiguous(did, t))
            elif did not in self.id_map:
                out.append(Incompatibility(did, describe(self.dist, t, did), self._why(did, t)))
        return out

    def _ambiguous(self, did: int, t: BtfType) -> Incompatibility:
        bids = [self.id_map[did], *self.extra[did]]
        what = describe(self.dist, t, did)
        size = f" of size {_size(t)}" if not isinstance(t, Fwd) else ""
        listed = ", ".join(f"[{b}] {describe(self.base, self.base.type(b), b)}" for b in bids)
        return Incompatibility(did, what, f"{len(bids)} types{size} in {self.base_label} match "
                                          f"it ({listed}); relocation cannot choose")

    def _why(self, did: int, t: BtfType) -> str:
        base, ours, theirs = self.base, self.dist_label, self.base_label
        name = self.dist.name(t)
        found = [base.type(b) for b in self.named_in_base.get(name, [])]
        if not found:
            return f"not found in {theirs}"
        if isinstance(t, Composite):
            comps = [b for b in found if isinstance(b, Composite)]
            if not comps:
                return f"not a struct or union in {theirs} (there: {_kinds(found)})"
            sizes = _sizes(comps)
            if did in self.embedded_in:
                sid = self.embedded_in[did]
                embedder = describe(self.split, self.split.type(sid), sid)
                return f"size {t.size} in {ours}, {sizes} in {theirs}; embedded in {embedder}"
            return (f"size {t.size} in {ours}; {theirs} has {len(comps)} structs/unions of "
                    f"this name, of sizes {sizes}, and needs the size to choose")
        if isinstance(t, Int):
            ints = [b for b in found if isinstance(b, Int)]
            if not ints:
                return f"not an int in {theirs} (there: {_kinds(found)})"
            same = [b for b in ints if b.size == t.size]
            if not same:
                return f"size {t.size} in {ours}, {_sizes(ints)} in {theirs}"
            return (f"encoding {_enc_name(t.encoding)} in {ours}, "
                    f"{'/'.join(sorted({_enc_name(b.encoding) for b in same}))} in {theirs}")
        if isinstance(t, Float):
            floats = [b for b in found if isinstance(b, Float)]
            if not floats:
                return f"not a float in {theirs} (there: {_kinds(found)})"
            return f"size {t.size} in {ours}, {_sizes(floats)} in {theirs}"
        if isinstance(t, Enum):
            enums = [b for b in found if isinstance(b, Enum | Enum64)]
            if not enums:
                return f"not an enum in {theirs} (there: {_kinds(found)})"
            kinds = "/".join(sorted({kind_word(b) for b in enums}))
            return f"size {t.size} in {ours}, {_sizes(enums)} in {theirs} ({kinds})"
        if isinstance(t, Fwd):
            mine = "union" if t.is_union else "struct"
            for b in found:
                if isinstance(b, Struct) and b.bitfield_encoding and not t.is_union:
                    return (f"{theirs} defines struct {name} with kind_flag set (bitfield "
                            "encoding), which the relocation rules of libbpf 1.5 / Linux 6.12 "
                            "read as a union")
                if isinstance(b, Union) and not b.bitfield_encoding and t.is_union:
                    return (f"{theirs} defines union {name} with kind_flag clear, which the "
                            "relocation rules of libbpf 1.5 / Linux 6.12 read as a struct")
            return f"declared {mine} in {ours}; in {theirs}: {_kinds(found)}"
        return f"no compatible type in {theirs} (there: {_kinds(found)})"


def _kinds(types: Sequence[BtfType]) -> str:
    words: dict[str, None] = {}
    for b in types:
        if isinstance(b, Fwd):
            words[f"{'union' if b.is_union else 'struct'} forward declaration"] = None
        else:
            words[kind_word(b)] = None
    return ", ".join(words)


def _sizes(types: Sequence[BtfType]) -> str:
    sizes = sorted({_size(b) for b in types})
    return ", ".join(map(str, sizes))


def validate_distilled(dist: Btf) -> None:
    """A distilled base holds only named ints, floats, enums, structs, unions and forwards."""
    if dist.base is not None:
        raise RelocationError("the base to relocate from is itself split BTF, "
                              "not a distilled base")
    for did, t in dist:
        if not isinstance(t, _DISTILLED_KINDS):
            raise RelocationError(
                f"not a distilled base: type [{did}] {t.kind.name} '{dist.name(t)}': a distilled "
                "base holds only named INT, FLOAT, ENUM, STRUCT, UNION and FWD types")
        if not t.name_off:
            raise RelocationError(
                f"not a distilled base: type [{did}] {t.kind.name} is anonymous")


def relocate(split: Btf, new_base: Btf, *, base_label: str = "vmlinux",
             dist_label: str = "the module's base") -> Btf:
    """*split* (split BTF over a distilled base) put on *new_base*: a new :class:`Btf` whose ids
    and string offsets continue *new_base*'s. *split* is not modified.

    Raises :class:`RelocationError` naming every distilled type that has no counterpart in
    *new_base*, with the reason. *base_label* and *dist_label* name the two bases in messages.
    """
    dist = split.base
    if dist is None:
        raise RelocationError("not split BTF: there is no distilled base to relocate from")
    if dist is new_base:
        raise RelocationError("the BTF is already over that base")
    validate_distilled(dist)
    m = _Matcher(dist, new_base, split, dist_label, base_label)
    m.mark_embedded()
    m.match()
    problems = m.problems()
    if problems:
        if len(problems) == 1:
            msg = f"cannot relocate onto {base_label}: {problems[0]}"
        else:
            msg = (f"cannot relocate onto {base_label}: {len(problems)} incompatible types:\n"
                   + "\n".join(f"  {p}" for p in problems))
        raise RelocationError(msg, problems)

    nr_dist = dist.type_count
    shift = new_base.type_count - nr_dist
    id_map = m.id_map

    def ids(i: int) -> int:
        if i >= nr_dist:
            return i + shift
        return id_map[i] if i else 0

    dist_end = dist.strings.end
    str_shift = new_base.strings.end - dist_end
    str_map = m.str_map

    def strs(off: int) -> int:
        if not off:
            return 0
        if off >= dist_end:
            return off + str_shift
        mapped = str_map.get(off)
        if mapped is None:
            raise RelocationError(
                f"string '{split.strings.get(off)}' (offset {off}) is in the distilled base but "
                "is not the name of a relocated type")
        return mapped

    out = Btf(new_base, strings=StringTable(split.strings.data, new_base.strings),
              endian=split.endian)
    out.flags = split.flags
    out.types = [rewrite_type(t, ids, strs) for t in split.types]
    return out
