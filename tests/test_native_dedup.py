"""The native ``btf_dedup`` (libbpf's btf__dedup over raw BTF), on BTF built here."""

from __future__ import annotations

import pytest

from btfbuild import _native
from btfbuild.btf import raw
from btfbuild.btf.model import Btf
from btfbuild.btf.types import Int, Kind, Member, Ptr, Struct


def _with_twin_structs(base: Btf | None = None) -> Btf:
    btf = Btf(base)
    if base is None:
        int_id = btf.add(Int(btf.add_str("int"), 4, 1, 0, 32))
    else:
        found = base.find("int", Kind.INT)
        assert found is not None
        int_id = found
    for _ in range(2):
        s = btf.add(Struct(btf.add_str("pair"), 8, [Member(btf.add_str("a"), int_id, 0, 0),
                                                      Member(btf.add_str("b"), int_id, 32, 0)]))
        btf.add(Ptr(0, s))
    return btf


def _kinds(btf: Btf) -> list[Kind]:
    return [t.kind for _, t in btf]


def test_twin_structs_and_their_pointers_collapse() -> None:
    out = raw.parse(_native.btf_dedup(raw.encode(_with_twin_structs())))
    assert _kinds(out) == [Kind.INT, Kind.STRUCT, Kind.PTR]
    ptr = out.type(3)
    assert isinstance(ptr, Ptr) and ptr.type_id == 2


def test_split_types_equal_to_base_types_take_the_base_ids() -> None:
    base = _with_twin_structs()
    base = raw.parse(_native.btf_dedup(raw.encode(base)))
    split = _with_twin_structs(base)
    out = raw.parse(_native.btf_dedup(raw.encode(split), raw.encode(base)), base)
    assert _kinds(out) == []


def test_dedup_of_deduplicated_btf_is_the_identity() -> None:
    once = _native.btf_dedup(raw.encode(_with_twin_structs()))
    assert _native.btf_dedup(once) == once


def test_bad_input_is_an_encode_error() -> None:
    with pytest.raises(_native.EncodeError, match="magic"):
        _native.btf_dedup(b"\0" * 32)
