# Types of the native core (native/src/lib.rs), for mypy.
from collections.abc import Sequence

from typing_extensions import Buffer

class EncodeError(Exception): ...

def version() -> str: ...
def encode(
    path: str,
    *,
    base: bytes | None = None,
    distilled_base: bool = False,
    threads: int = 0,
    vars: bool = True,
    global_vars: bool = False,
    consistent_func: bool = True,
    optimized_func: bool = True,
    gen_floats: bool = True,
    enum64: bool = True,
    decl_tags: bool = True,
    type_tags: bool = True,
    lang_exclude: Sequence[int] = ...,
    kfuncs: Sequence[tuple[bytes, int]] = ...,
    explain: Sequence[bytes] = ...,
) -> tuple[bytes, dict[str, int], bytes | None, list[str]]: ...
def btf_record_count(types: Buffer, little: bool) -> int | None: ...
def btf_lookup_names(
    levels: Sequence[tuple[Buffer, Buffer, bool, int]],
    wanted: Sequence[tuple[int, Sequence[bytes]]],
) -> list[tuple[int, int, int]]: ...
def btf_dedup(raw: Buffer, base: Buffer | None = None) -> bytes: ...
