"""Semantic comparison of two BTFs: the same types, layouts, functions and variables, whatever
their ids.

Every named type, function and variable is rendered as a declaration in which referenced types
appear as C-like type expressions (``struct sk_buff *``, ``int[16]``, ``fn(int a) -> void``);
anonymous structs, unions and enums are spelled out inline, so two BTFs that describe the same
program state render to the same set of declarations even when their type ids, type order or
string order differ. Names that occur several times (a struct defined differently in two compile
units) are compared as multisets.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .btf.model import Btf
from .btf.types import (
    Array,
    BtfType,
    Composite,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Ptr,
    Restrict,
    Typedef,
    TypeTag,
    Union,
    Var,
    Void,
    Volatile,
)

Key = tuple[str, str]  # (kind, name)


class _Renderer:
    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.name = btf.strings.get
        self._expr: dict[int, str] = {}

    def expr(self, tid: int, depth: int = 0) -> str:
        """A type expression for type *tid*: named types by name, others spelled out."""
        cached = self._expr.get(tid)
        if cached is not None:
            return cached
        t = self.btf.type(tid)
        s = self._expr_uncached(t, depth)
        if depth == 0:
            self._expr[tid] = s
        return s

    def _expr_uncached(self, t: BtfType, depth: int) -> str:
        if depth > 40:
            return "..."
        n = self.name(t.name_off) if t.name_off else ""
        if isinstance(t, Void):
            return "void"
        if isinstance(t, Int | Float):
            return n
        if isinstance(t, Composite):
            kw = "union" if isinstance(t, Union) else "struct"
            if n:
                return f"{kw} {n}"
            return f"{kw} {{{self.members(t, depth + 1)}}}"
        if isinstance(t, Enum | Enum64):
            if n:
                return f"enum {n}"
            return f"enum {{{self.enumerators(t)}}}"
        if isinstance(t, Fwd):
            return f"{'union' if t.is_union else 'struct'} {n}"
        if isinstance(t, Typedef):
            return n
        if isinstance(t, Ptr):
            return f"{self.expr(t.type_id, depth + 1)} *"
        if isinstance(t, Const):
            return f"const {self.expr(t.type_id, depth + 1)}"
        if isinstance(t, Volatile):
            return f"volatile {self.expr(t.type_id, depth + 1)}"
        if isinstance(t, Restrict):
            return f"restrict {self.expr(t.type_id, depth + 1)}"
        if isinstance(t, TypeTag):
            return f"tag({n}) {self.expr(t.type_id, depth + 1)}"
        if isinstance(t, Array):
            return f"{self.expr(t.type_id, depth + 1)}[{t.nelems}]"
        if isinstance(t, FuncProto):
            params = ", ".join(
                "..." if p.type_id == 0 and p.name_off == 0
                else f"{self.expr(p.type_id, depth + 1)} {self.name(p.name_off)}".rstrip()
                for p in t.params)
            return f"fn({params}) -> {self.expr(t.ret_type_id, depth + 1)}"
        return f"<{t.kind.name} {n}>"

    def members(self, t: Composite, depth: int) -> str:
        return "; ".join(
            f"{self.expr(m.type_id, depth)} {self.name(m.name_off)}@{m.bit_offset}"
            + (f":{m.bitfield_size}" if m.bitfield_size else "")
            for m in t.members) + f"; size {t.size}"

    def enumerators(self, t: Enum | Enum64) -> str:
        values = ", ".join(f"{self.name(v.name_off)}={v.value}" for v in t.values)
        signed = " signed" if t.signed else ""
        wide = " 64" if isinstance(t, Enum64) else ""
        return f"{values}; size {t.size}{signed}{wide}"

    def declaration(self, t: BtfType) -> tuple[Key, str] | None:
        n = self.name(t.name_off) if t.name_off else ""
        if isinstance(t, Composite):
            if not n:
                return None
            kw = "union" if isinstance(t, Union) else "struct"
            return (kw, n), self.members(t, 0)
        if isinstance(t, Enum | Enum64):
            return ("enum", n), self.enumerators(t) if n else None  # type: ignore[return-value]
        if isinstance(t, Int):
            return ("int", n), f"size {t.size} bits {t.bits} offset {t.bit_offset} enc {t.encoding}"
        if isinstance(t, Float):
            return ("float", n), f"size {t.size}"
        if isinstance(t, Typedef):
            return ("typedef", n), self.expr(t.type_id)
        if isinstance(t, Fwd):
            return ("fwd", n), "union" if t.is_union else "struct"
        if isinstance(t, Func):
            return ("func", n), f"{self.expr(t.type_id)} linkage {t.linkage}"
        if isinstance(t, Var):
            return ("var", n), f"{self.expr(t.type_id)} linkage {t.linkage}"
        if isinstance(t, Datasec):
            vars_ = sorted(f"{self.name(self.btf.type(v.type_id).name_off)}@{v.offset}+{v.size}"
                           for v in t.vars)
            return ("datasec", n), f"size {t.size}: " + ", ".join(vars_)
        if isinstance(t, DeclTag):
            target = self.btf.type(t.type_id)
            tname = self.name(target.name_off) if target.name_off else self.expr(t.type_id)
            return ("decl_tag", f"{n} on {target.kind.name.lower()} {tname}"), \
                f"component {t.component_idx}"
        return None


def declarations(btf: Btf) -> Counter[tuple[Key, str]]:
    """The multiset of (key, rendering) of *btf*'s own named types, functions and variables."""
    r = _Renderer(btf)
    out: Counter[tuple[Key, str]] = Counter()
    for _, t in btf:
        d = r.declaration(t)
        if d is not None and d[1] is not None:
            out[d] += 1
    return out


@dataclass
class Difference:
    only_a: list[tuple[Key, str]] = field(default_factory=list)
    only_b: list[tuple[Key, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.only_a or self.only_b)

    def by_kind(self) -> dict[str, tuple[int, int]]:
        kinds: dict[str, list[int]] = {}
        for (kind, _), _r in self.only_a:
            kinds.setdefault(kind, [0, 0])[0] += 1
        for (kind, _), _r in self.only_b:
            kinds.setdefault(kind, [0, 0])[1] += 1
        return {k: (v[0], v[1]) for k, v in sorted(kinds.items())}


def diff(a: Btf, b: Btf) -> Difference:
    da, db = declarations(a), declarations(b)
    d = Difference()
    for item, n in sorted((da - db).items()):
        d.only_a.extend([item] * n)
    for item, n in sorted((db - da).items()):
        d.only_b.extend([item] * n)
    return d
