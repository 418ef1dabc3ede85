"""Deduplication of a BTF object: libbpf's ``btf__dedup``, run by the native core.

The algorithm (libbpf's passes: strings, primitive types, structs and unions with the
hypothetical map, FWD resolution, reference types, compaction) is written down once, at the top
of ``native/src/dedup.rs``; the encoder runs it on the BTF it builds, and this module hands it
any BTF of the model, standalone or split, over its raw form.
"""

from __future__ import annotations

from ..errors import BtfbuildError
from . import raw
from .model import Btf


class DedupError(BtfbuildError):
    """The native dedup refused the BTF; the message says why."""


def dedup(btf: Btf) -> Btf:
    """A deduplicated copy of *btf*: equal types merged, strings no type uses dropped, the
    rest in first-reference order. Split BTF is deduplicated against its base, whose types keep
    their ids and absorb equal split types; the result has the same base."""
    from .. import _native

    base = raw.encode(btf.base, btf.endian) if btf.base is not None else None
    try:
        out = _native.btf_dedup(raw.encode(btf), base)
    except _native.EncodeError as exc:
        raise DedupError(str(exc)) from None
    return raw.parse(out, btf.base)
