"""Helpers for tests: build small BTF with every kind through the public model API."""

from __future__ import annotations

from btfbuild.btf import Btf
from btfbuild.btf.types import (
    Array,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncLinkage,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Member,
    Param,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Var,
    VarLinkage,
    VarSecinfo,
    Volatile,
)


def every_kind() -> Btf:
    """A base BTF holding each of the 19 kinds at least once, with kind_flag variants."""
    b = Btf()
    s = b.add_str
    i32 = b.add(Int(s("int"), 4, IntEncoding.SIGNED, 0, 32))
    u8 = b.add(Int(s("unsigned char"), 1, IntEncoding.NONE, 0, 8))
    b.add(Int(s("_Bool"), 1, IntEncoding.BOOL, 0, 8))
    char = b.add(Int(s("char"), 1, IntEncoding.CHAR | IntEncoding.SIGNED, 0, 8))
    u64 = b.add(Int(s("long unsigned int"), 8, IntEncoding.NONE, 0, 64))
    ptr_char = b.add(Ptr(0, char))
    arr = b.add(Array(0, u8, i32, 16))
    fwd_s = b.add(Fwd(s("opaque"), False))
    fwd_u = b.add(Fwd(s("opaque_u"), True))
    ptr_fwd = b.add(Ptr(0, fwd_s))
    b.add(Ptr(0, fwd_u))
    e32 = b.add(Enum(s("color"), 4, [EnumValue(s("RED"), 0), EnumValue(s("BLUE"), 4000000000)]))
    b.add(Enum(s("sign"), 4, [EnumValue(s("NEG"), -1), EnumValue(s("POS"), 1)], signed=True))
    b.add(Enum64(s("wide"), 8, [EnumValue(s("HUGE"), 1 << 40),
                                EnumValue(s("MAXU"), (1 << 64) - 1)]))
    b.add(Enum64(s("swide"), 8, [EnumValue(s("SNEG"), -(1 << 40))], signed=True))
    inner = b.add(Union(0, 8, [Member(s("a"), i32, 0), Member(s("b"), u64, 0)]))
    st = b.add(Struct(s("packet"), 40, [
        Member(s("len"), i32, 0),
        Member(s("flags"), i32, 32, 3),
        Member(s("proto"), i32, 35, 5),
        Member(0, inner, 64),
        Member(s("data"), arr, 128),
        Member(s("name"), ptr_char, 256),
        Member(s("col"), e32, 272 + 16),
    ], bitfield_encoding=True))
    b.add(Struct(s("plain"), 16, [Member(s("x"), i32, 0), Member(s("next"), ptr_fwd, 64)]))
    td = b.add(Typedef(s("packet_t"), st))
    cv = b.add(Const(0, b.add(Volatile(0, td))))
    restrict_ptr = b.add(Restrict(0, b.add(Ptr(0, cv))))
    tag = b.add(TypeTag(s("user"), i32))
    proto = b.add(FuncProto(0, i32, [Param(s("p"), restrict_ptr), Param(s("u"), b.add(Ptr(0, tag))),
                                     Param(0, 0)]))
    fn = b.add(Func(s("handle"), proto, FuncLinkage.GLOBAL))
    b.add(Func(s("helper"), b.add(FuncProto(0, 0, [])), FuncLinkage.STATIC))
    b.add(DeclTag(s("kfunc"), fn, -1))
    b.add(DeclTag(s("arg"), fn, 0))
    b.add(Float(s("double"), 8))
    v1 = b.add(Var(s("counter"), i32, VarLinkage.GLOBAL_ALLOCATED))
    v2 = b.add(Var(s("state"), st, VarLinkage.STATIC))
    b.add(Datasec(s(".data"), 48, [VarSecinfo(v1, 0, 4), VarSecinfo(v2, 8, 40)]))
    return b
