"""``btfbuild-pahole``: the pahole command line as kbuild calls it, for BTF encoding.

Accepted: what ``scripts/Makefile.btf``, ``scripts/pahole-flags.sh``, ``link-vmlinux.sh`` and
``Makefile.modfinal`` of kernels 5.x-6.12 pass (``-J``, ``--btf_encode_detached``,
``--btf_base``, ``-j[N]``, ``--btf_features``, the older ``--btf_gen_*``/``--skip_encoding_*``
flags, ``--lang_exclude``), plus ``--version`` (``v1.30``, so Kconfig's version probe enables
every BTF option) and ``--supported_btf_features``. pahole's other modes (printing structs) are
not provided. Errors are one line on stderr and exit status 1, as pahole exits.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import BtfbuildError
from ..features import SUPPORTED, Features

PAHOLE_VERSION = "v1.30"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="btfbuild-pahole", add_help=True,
                                 description="Encode DWARF as BTF, with pahole's options.")
    ap.add_argument("--version", action="store_true", help="print the pahole version emulated")
    ap.add_argument("-J", "--btf_encode", action="store_true", help="encode BTF")
    ap.add_argument("--btf_encode_detached", metavar="FILE", help="write raw BTF to FILE")
    ap.add_argument("--btf_base", metavar="FILE", help="base BTF for split (module) BTF")
    ap.add_argument("-j", "--jobs", nargs="?", const="0", default=None, metavar="N",
                    help="threads (default: one per CPU)")
    ap.add_argument("--btf_features", action="append", default=[], metavar="LIST")
    ap.add_argument("--btf_features_strict", action="append", default=[], metavar="LIST")
    ap.add_argument("--supported_btf_features", action="store_true")
    ap.add_argument("--btf_gen_floats", action="store_true")
    ap.add_argument("--btf_gen_optimized", action="store_true")
    ap.add_argument("--btf_gen_all", action="store_true")
    ap.add_argument("--btf_encode_force", action="store_true")
    ap.add_argument("--skip_encoding_btf_vars", action="store_true")
    ap.add_argument("--skip_encoding_btf_inconsistent_proto", action="store_true")
    ap.add_argument("--skip_encoding_btf_enum64", action="store_true")
    ap.add_argument("--skip_encoding_btf_decl_tag", action="store_true")
    ap.add_argument("--skip_encoding_btf_type_tag", action="store_true")
    ap.add_argument("--lang_exclude", metavar="LANGS")
    ap.add_argument("-V", "--verbose", action="store_true")
    ap.add_argument("files", nargs="*", metavar="FILE")
    return ap


def features_from_args(args: argparse.Namespace) -> Features:
    f = Features()
    f.float |= args.btf_gen_floats
    f.optimized_func |= args.btf_gen_optimized
    f.consistent_func |= args.skip_encoding_btf_inconsistent_proto
    f.encode_force |= args.btf_encode_force
    if args.btf_gen_all:
        f.apply("+" + ",".join(SUPPORTED))
    if args.skip_encoding_btf_vars:
        f.var = False
    if args.skip_encoding_btf_enum64:
        f.enum64 = False
    if args.skip_encoding_btf_decl_tag:
        f.decl_tag = False
    if args.skip_encoding_btf_type_tag:
        f.type_tag = False
    for spec in args.btf_features:
        f.apply(spec)
    for spec in args.btf_features_strict:
        f.apply(spec, strict=True)
    return f


def _normalize_argv(argv: list[str]) -> list[str]:
    """pahole's ``-j`` takes its count attached (``-j4``) or none at all; ``-j 4`` would make 4
    a file name there, and argparse must not read it as the count either."""
    out = []
    for a in argv:
        if a.startswith("-j") and len(a) > 2 and a[2:].isdigit():
            out.append(f"--jobs={a[2:]}")
        elif a == "-j":
            out.append("--jobs=0")
        else:
            out.append(a)
    return out


def run(argv: Sequence[str]) -> int:
    args = _parser().parse_args(_normalize_argv(list(argv)))
    if args.version:
        print(PAHOLE_VERSION)
        return 0
    if args.supported_btf_features:
        print(",".join(SUPPORTED))
        return 0
    if not args.btf_encode and not args.btf_encode_detached:
        raise BtfbuildError("only BTF encoding (-J) is supported")
    if len(args.files) != 1:
        raise BtfbuildError("expected exactly one input file")
    from ..encoder import encode_file, parse_languages

    path = Path(args.files[0])
    feats = features_from_args(args)
    threads = int(args.jobs) if args.jobs is not None else 1
    langs = parse_languages(args.lang_exclude) if args.lang_exclude else []
    base = Path(args.btf_base) if args.btf_base else None
    # as pahole: a distilled base is made only for BTF written into the ELF file
    if args.btf_encode_detached:
        feats.distilled_base = False
    result = encode_file(path, feats, base=base, threads=threads, lang_exclude=langs)
    if args.btf_encode_detached:
        _write_detached(Path(args.btf_encode_detached), result.raw)
    else:
        from ..elfwrite import set_sections

        # written in-process, as pahole 1.30 does with libelf ($LLVM_OBJCOPY is not needed)
        sections = {".BTF": result.raw}
        if result.distilled_base is not None:
            sections[".BTF.base"] = result.distilled_base
        set_sections(path, sections)
    return 0


def _write_detached(path: Path, data: bytes) -> None:
    from ..atomic import write_file

    try:
        write_file(path, data)
    except OSError as exc:
        raise BtfbuildError(f"{path}: cannot write: {exc.strerror or exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except BtfbuildError as exc:
        print(f"btfbuild-pahole: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
