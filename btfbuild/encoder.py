"""DWARF to BTF: the Python side of the native encoder.

The native core (``btfbuild._native.encode``) reads the ELF file, converts and deduplicates; this
module chooses its options from :class:`~btfbuild.features.Features`, turns its errors into
:class:`~btfbuild.errors.BtfbuildError` naming the file, and hands back the raw BTF.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .errors import BtfbuildError
from .features import Features

#: DW_LANG_* codes by the names ``--lang_exclude`` accepts (pahole's lang__str2int table)
LANGUAGES = {
    "c89": 0x01, "c": 0x02, "ada83": 0x03, "c_plus_plus": 0x04, "cobol74": 0x05, "cobol85": 0x06,
    "fortran77": 0x07, "fortran90": 0x08, "pascal83": 0x09, "modula2": 0x0A, "java": 0x0B,
    "c99": 0x0C, "ada95": 0x0D, "fortran95": 0x0E, "pli": 0x0F, "objc": 0x10,
    "objc_plus_plus": 0x11, "upc": 0x12, "d": 0x13, "python": 0x14, "opencl": 0x15, "go": 0x16,
    "modula3": 0x17, "haskell": 0x18, "c_plus_plus_03": 0x19, "c_plus_plus_11": 0x1A,
    "ocaml": 0x1B, "rust": 0x1C, "c11": 0x1D, "swift": 0x1E, "julia": 0x1F, "dylan": 0x20,
    "c_plus_plus_14": 0x21, "fortran03": 0x22, "fortran08": 0x23, "renderscript": 0x24,
    "bliss": 0x25, "mips_assembler": 0x8001,
}


def parse_languages(spec: str) -> list[int]:
    codes = []
    for name in (n.strip().lower() for n in spec.split(",") if n.strip()):
        if name not in LANGUAGES:
            raise BtfbuildError(f"unknown language '{name}' in --lang_exclude")
        codes.append(LANGUAGES[name])
    return codes


class EncodeResult(NamedTuple):
    raw: bytes  # the BTF (split over the base, or over the distilled base, when there is one)
    stats: dict[str, int]  # counters of the native core ("functions: <outcome>": names)
    distilled_base: bytes | None = None  # the .BTF.base section, with ``distilled_base``
    explanations: tuple[str, ...] = ()  # with *explain*: why each name has BTF or not, by line


def encode_file(path: Path, features: Features, *, base: Path | None = None, threads: int = 0,
                lang_exclude: list[int] | None = None,
                explain: list[str] | None = None) -> EncodeResult:
    """Encode the DWARF of the ELF file *path* as raw BTF; with *base*, as split BTF over the
    standalone BTF in that file, distilled (``.BTF`` + ``.BTF.base``) when *features* ask.
    *explain*: function or variable names to report on (why they get BTF or not)."""
    from . import _native
    from .kimage import base_btf

    base_raw = base_btf(base) if base is not None else None
    # pahole reads the kfunc sets whenever decl_tag_kfuncs is on (a malformed set fails the
    # encoding even then), but tags only when decl tags are encoded at all. A file that cannot
    # be read is reported by the native encoder, in its words; a kfunc error only if it passes.
    kfuncs: list[tuple[bytes, int]] = []
    kfunc_error: BtfbuildError | None = None
    if features.decl_tag_kfuncs:
        from .kfuncs import read_kfuncs

        try:
            kfuncs = read_kfuncs(path)
        except BtfbuildError as exc:
            kfunc_error = exc
        if not features.decl_tag:
            kfuncs = []
    try:
        raw, stats, distilled, explanations = _native.encode(
            str(path), base=base_raw, distilled_base=features.distilled_base,
            threads=threads, vars=features.var, global_vars=features.global_var,
            consistent_func=features.consistent_func, gen_floats=features.float,
            enum64=features.enum64,
            decl_tags=features.decl_tag, type_tags=features.type_tag,
            lang_exclude=lang_exclude or [], kfuncs=kfuncs,
            explain=[n.encode() for n in explain or []],
        )
    except _native.EncodeError as exc:
        raise BtfbuildError(f"{path}: {exc}") from None
    if kfunc_error is not None:
        raise kfunc_error
    return EncodeResult(raw, dict(stats), distilled, tuple(explanations))
