"""``btfbuild.btf.dedup`` (libbpf's btf__dedup, run by the native core), on BTF built here."""

from __future__ import annotations

import pytest

from btfbuild.btf import raw
from btfbuild.btf.dedup import DedupError, dedup
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
    out = dedup(_with_twin_structs())
    assert _kinds(out) == [Kind.INT, Kind.STRUCT, Kind.PTR]
    ptr = out.type(3)
    assert isinstance(ptr, Ptr) and ptr.type_id == 2


def test_split_types_equal_to_base_types_take_the_base_ids() -> None:
    base = dedup(_with_twin_structs())
    out = dedup(_with_twin_structs(base))
    assert out.base is base and _kinds(out) == []


def test_dedup_of_deduplicated_btf_is_the_identity() -> None:
    once = raw.encode(dedup(_with_twin_structs()))
    assert raw.encode(dedup(raw.parse(once))) == once


def test_a_dangling_type_id_is_a_dedup_error() -> None:
    btf = Btf()
    btf.add(Ptr(0, 7))  # no type 7
    with pytest.raises(DedupError):
        dedup(btf)
