"""The ``btfbuild`` command: object-then-verb subcommands on the BTF model.

Every failure the user can act on is a :class:`~btfbuild.errors.BtfbuildError`; it is printed as
one line, ``btfbuild: <message>``, with exit status 1. Usage errors exit 2, as argparse does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .btf import Btf, load
from .errors import BtfbuildError

Handler = Callable[[argparse.Namespace], int]


def _load_with_base(path: str, base_path: str | None, *, sanity: bool = True) -> Btf:
    base = load(base_path) if base_path else None
    return load(path, base, sanity=sanity)


def cmd_dump(args: argparse.Namespace) -> int:
    btf = _load_with_base(args.file, args.base)
    out = sys.stdout
    if args.format == "raw":
        from .dump.raw import dump_raw

        dump_raw(btf, out)
    elif args.format == "json":
        from .dump.raw import dump_json

        dump_json(btf, out)
    else:
        from .dump.c import dump_c

        dump_c(btf, out)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .check import validate

    try:
        btf = _load_with_base(args.file, args.base, sanity=False)
    except BtfbuildError as exc:
        print(f"{exc}", file=sys.stderr)
        return 1
    problems = validate(btf)
    for p in problems:
        print(f"{args.file}: {p}", file=sys.stderr)
    if problems:
        return 1
    if not args.quiet:
        print(f"{args.file}: OK ({len(btf)} types)")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .stats import print_stats

    btf = _load_with_base(args.file, args.base)
    print_stats(btf, args.file, as_json=args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="btfbuild",
        description="Build, inspect and check BTF (the kernel's BPF Type Format).",
    )
    ap.add_argument("--version", action="version", version=f"btfbuild {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    def add_file_and_base(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "file", metavar="FILE",
            help="raw BTF, /sys/kernel/btf/*, or an ELF file with .BTF (vmlinux, .ko, .o)")
        p.add_argument("-B", "--base", metavar="BASE",
                       help="base BTF of split BTF (vmlinux ELF, raw BTF, /sys/kernel/btf/vmlinux)")

    p = add("dump", cmd_dump, "Print BTF as bpftool does: raw text, C header or JSON.")
    add_file_and_base(p)
    p.add_argument("-f", "--format", choices=("raw", "c", "json"), default="raw")

    p = add("check", cmd_check, "Validate BTF by the kernel's rules; exit 1 on any problem.")
    add_file_and_base(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")

    p = add("stats", cmd_stats, "Count types per kind and the sizes of the sections.")
    add_file_and_base(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return ap


def run(argv: Sequence[str] | None, parser: argparse.ArgumentParser, prog: str) -> int:
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except BtfbuildError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (dump | head): not an error; keep Python quiet at exit
        devnull = open("/dev/null", "w")  # noqa: SIM115
        sys.stdout = devnull
        return 0
    except KeyboardInterrupt:
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    return run(argv, build_parser(), "btfbuild")


if __name__ == "__main__":
    sys.exit(main())
