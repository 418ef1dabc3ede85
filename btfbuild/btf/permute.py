"""Reordering the types of a BTF object (libbpf's ``btf__permute``, libbpf 1.7).

The object's own types are laid out in a new order and every type id that refers to one of them
is rewritten; ids below ``start_id`` (void, and the base of split BTF) stay as they are, and the
string section is not touched, so the names keep their offsets. libbpf takes the map from old id
to new id; :func:`permute` takes the new order itself (old ids, first to last) and returns that
map, which is what its callers build it from anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import BtfbuildError
from .model import Btf
from .relocate import rewrite_type


def permute(btf: Btf, order: Sequence[int]) -> dict[int, int]:
    """Lay out *btf*'s own types in *order* (every own id once); returns old id -> new id."""
    start = btf.start_id
    if sorted(order) != list(range(start, btf.type_count)):
        raise BtfbuildError(f"not a permutation of the type ids {start}..{btf.type_count - 1}")
    id_map = {old: new for new, old in enumerate(order, start)}

    def ids(i: int) -> int:
        return id_map.get(i, i)

    def same(off: int) -> int:
        return off

    btf.types = [rewrite_type(btf.type(old), ids, same) for old in order]
    return id_map
