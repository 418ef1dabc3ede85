"""The ``btfbuild`` command: object-then-verb subcommands on the BTF model.

Every failure the user can act on is a :class:`~btfbuild.errors.BtfbuildError`; it is printed as
one line, ``btfbuild: <message>``, with exit status 1. Usage errors exit 2, as argparse does.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .btf import Btf, load
from .errors import BtfbuildError

Handler = Callable[[argparse.Namespace], int]


def _load_with_base(path: str, base_path: str | None, *, sanity: bool = True) -> Btf:
    base = load(base_path) if base_path else None
    return load(path, base, sanity=sanity)


def cmd_dump(args: argparse.Namespace) -> int:
    # the model is acyclic: keep the cyclic GC from scanning its ~300k objects at all (the
    # first collection after loading vmlinux would cost ~20 ms)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        btf = _load_with_base(args.file, args.base)
        gc.freeze()
    finally:
        if gc_was_enabled:
            gc.enable()
    try:
        out = sys.stdout
        dumper: object = None
        if args.format == "raw":
            from .dump.raw import dump_raw

            dump_raw(btf, out)
        elif args.format == "json":
            from .dump.raw import dump_json

            dump_json(btf, out)
        else:
            from .dump.c import dump_c

            dumper = dump_c(btf, out)
    finally:
        gc.unfreeze()
    args.exit_keeping = (btf, dumper)  # see run(): the process may end without freeing them
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


def cmd_encode(args: argparse.Namespace) -> int:
    from .encoder import encode_file, parse_languages
    from .features import Features

    feats = Features()
    feats.apply(args.features)
    langs = parse_languages(args.lang_exclude) if args.lang_exclude else []
    base = Path(args.base) if args.base else None
    with _busy(f"encoding {args.elf}", quiet=args.quiet):
        result = encode_file(Path(args.elf), feats, base=base, threads=args.jobs,
                             lang_exclude=langs, explain=args.explain)
    for line in result.explanations:
        print(line)
    if args.explain and not args.output:
        return 0  # a question about names: no output file unless one is named
    out = Path(args.output) if args.output else Path(args.elf + ".btf")
    written = [str(out)]
    try:
        out.write_bytes(result.raw)
        if result.distilled_base is not None:
            base_out = out.with_name(out.name + ".base")
            base_out.write_bytes(result.distilled_base)
            written.append(str(base_out))
    except OSError as exc:
        raise BtfbuildError(f"{out}: {exc.strerror or exc}") from None
    if not args.quiet:
        _encode_summary(args.elf, result.raw, result.distilled_base, base, result.stats, written)
    return 0


@contextmanager
def _busy(what: str, *, quiet: bool) -> Iterator[None]:
    """A spinner on stderr while a long call runs (only on a terminal, and not with -q)."""
    if quiet or not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(what):
        yield


def _encode_summary(elf: str, raw: bytes, distilled: bytes | None, base: Path | None,
                    stats: dict[str, int], written: list[str]) -> None:
    """Types per kind of the result and what became of the functions, as tables on stderr."""
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    from .btf import parse
    from .kimage import base_btf

    under = None
    if distilled is not None:
        under = parse(distilled)
    elif base is not None:
        under = parse(base_btf(base))
    btf = parse(raw, under)
    kinds = Counter(t.kind.name for t in btf.types)
    types = Table(title="types", title_justify="left")
    types.add_column("kind")
    types.add_column("count", justify="right")
    for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
        types.add_row(kind, str(n))
    funcs = Table(title="functions (by name)", title_justify="left")
    funcs.add_column("outcome")
    funcs.add_column("names", justify="right")
    for key, n in sorted(stats.items()):
        if key.startswith("functions: "):
            funcs.add_row(key.removeprefix("functions: "), str(n))
    console = Console(stderr=True)
    console.print(types, funcs)
    console.print(f"{elf}: {stats.get('cus', 0)} compile units, "
                  f"{stats.get('types_before_dedup', 0)} types before dedup, "
                  f"{len(raw)} bytes of BTF written to {' and '.join(written)}")


def cmd_diff(args: argparse.Namespace) -> int:
    from .diff import diff

    a = _load_with_base(args.a, args.base_a or args.base)
    b = _load_with_base(args.b, args.base_b or args.base)
    d = diff(a, b)
    for (kind, name), text in d.only_a:
        print(f"- {kind} {name}: {text}")
    for (kind, name), text in d.only_b:
        print(f"+ {kind} {name}: {text}")
    if d:
        summary = ", ".join(f"{k} -{x}/+{y}" for k, (x, y) in d.by_kind().items())
        print(f"{len(d.only_a)} only in {args.a}, {len(d.only_b)} only in {args.b} ({summary})",
              file=sys.stderr)
        return 1
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .stats import print_stats

    btf = _load_with_base(args.file, args.base)
    print_stats(btf, args.file, as_json=args.json)
    return 0


def _distilled_module(path: str) -> Btf | None:
    """The split BTF of an ELF module over its own ``.BTF.base``; None when it has none."""
    from .btf.elf import is_elf, read_btf_sections

    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise BtfbuildError(f"{path}: {exc.strerror or exc}") from None
    if not is_elf(head):
        raise BtfbuildError(f"{path}: not an ELF module (.ko)")
    if read_btf_sections(Path(path)).base is None:
        return None
    return load(path)


def _print_relocation_failure(module: str, base: str, exc: BtfbuildError) -> None:
    from .btf.relocate import RelocationError

    problems = exc.problems if isinstance(exc, RelocationError) else []
    if not problems:
        print(f"btfbuild: {exc}", file=sys.stderr)
        return
    print(f"btfbuild: {module}: cannot relocate onto {base}: "
          f"{len(problems)} incompatible type{'s' if len(problems) > 1 else ''}", file=sys.stderr)
    for p in problems:
        print(f"  {p}", file=sys.stderr)


def cmd_distill(args: argparse.Namespace) -> int:
    from .btf import encode
    from .btf.distill import distill
    from .btf.relocate import describe

    path = Path(args.split)
    if args.in_place and _distilled_module(args.split) is not None:
        raise BtfbuildError(f"{path}: already has a distilled base (.BTF.base)")
    split = load(path, load(args.base))
    d = distill(split)
    base_raw, split_raw = encode(d.base), encode(d.split)
    summary = (f"{path}: {len(d.base)} types in the distilled base, "
               f"{len(d.split)} in the split BTF ({len(split)} before)")
    if args.in_place:
        from .elfedit import BTF_IDS, read_btf_ids, remap_btf_ids, replace_sections

        sections = {".BTF": split_raw, ".BTF.base": base_raw}
        layout = read_btf_ids(path)
        if layout is not None and layout.slots:
            sections[BTF_IDS] = remap_btf_ids(
                layout, d.id_map, lambda i: describe(split, split.type(i), i))
        replace_sections(path, sections)
        print(f"{summary}; {', '.join(sections)} rewritten")
        return 0
    out = Path(args.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{path.stem}.BTF").write_bytes(split_raw)
        (out / f"{path.stem}.BTF.base").write_bytes(base_raw)
    except OSError as exc:
        raise BtfbuildError(f"{out}: {exc.strerror or exc}") from None
    print(f"{summary}; wrote {out / path.stem}.BTF and .BTF.base")
    return 0


def cmd_relocate(args: argparse.Namespace) -> int:
    from .btf import encode
    from .btf.relocate import RelocationError, relocate

    split = _distilled_module(args.module)
    if split is None:
        raise BtfbuildError(f"{args.module}: no .BTF.base section: its BTF is split over the "
                            "vmlinux it was built with, there is nothing to relocate")
    base = load(args.base)
    try:
        btf = relocate(split, base, base_label=Path(args.base).name)
    except RelocationError as exc:
        _print_relocation_failure(args.module, args.base, exc)
        return 1
    assert split.base is not None
    summary = (f"{args.module}: relocated onto {args.base}: {len(split.base)} distilled base "
               f"types matched, {len(btf)} types from id {btf.start_id}")
    if args.output == "-":
        sys.stdout.buffer.write(encode(btf))
        print(summary, file=sys.stderr)
        return 0
    if args.output:
        try:
            Path(args.output).write_bytes(encode(btf))
        except OSError as exc:
            raise BtfbuildError(f"{args.output}: {exc.strerror or exc}") from None
        summary += f"; wrote {args.output}"
    print(summary)
    return 0


def cmd_check_module(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .btf.relocate import RelocationError, relocate

    kernels = [(spec, load(spec)) for spec in args.vmlinux]
    table = Table(title="Module BTF relocation (dry run)")
    for col in ("module", "kernel", "verdict", "reason"):
        table.add_column(col, overflow="fold")
    failed = 0
    for mod in args.modules:
        try:
            split = _distilled_module(mod)
        except BtfbuildError as exc:
            table.add_row(mod, "", "[red]ERROR[/]", str(exc))
            failed += 1
            continue
        for spec, base in kernels:
            if split is None:
                table.add_row(mod, spec, "[red]NOT DISTILLED[/]",
                              "no .BTF.base: its .BTF is split over the vmlinux it was built "
                              "with; `btfbuild distill MODULE -B THAT_VMLINUX --in-place` makes "
                              "it relocatable")
                failed += 1
                continue
            try:
                btf = relocate(split, base, base_label=Path(spec).name)
            except RelocationError as exc:
                reasons = [str(p) for p in exc.problems] or [str(exc)]
                table.add_row(mod, spec, "[red]FAIL[/]", "\n".join(reasons))
                failed += 1
                continue
            assert split.base is not None
            table.add_row(mod, spec, "[green]OK[/]",
                          f"{len(split.base)} base types matched; {len(btf)} types")
    Console(soft_wrap=False).print(table)
    total = len(args.modules) * len(kernels)
    print(f"{total - failed} of {total} module/kernel pairs relocate")
    return 1 if failed else 0


def cmd_base_btf(args: argparse.Namespace) -> int:
    from .kimage import base_btf

    data = base_btf(Path(args.source))
    try:
        if args.output == "-":
            sys.stdout.buffer.write(data)
        else:
            Path(args.output).write_bytes(data)
    except OSError as exc:
        raise BtfbuildError(f"{args.output}: {exc.strerror or exc}") from None
    if args.output != "-":
        print(f"{args.source}: {len(data)} bytes of BTF written to {args.output}")
    return 0


def cmd_btfids(args: argparse.Namespace) -> int:
    from .btfids import format_slots, list_slots

    slots = list_slots(args.file, btf=args.btf, base=args.base)
    sys.stdout.write(format_slots(slots, args.file))
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

    p = add("encode", cmd_encode, "Encode the DWARF of an ELF file (vmlinux, .ko, .o) as BTF.")
    p.add_argument("elf", metavar="ELF")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="raw BTF output (default: ELF.btf); with distilled_base the distilled "
                        "base goes to OUT.base")
    p.add_argument("-B", "--base", metavar="BASE",
                   help="encode split BTF over this base (vmlinux ELF, raw BTF, "
                        "/sys/kernel/btf/vmlinux), as pahole's --btf_base")
    p.add_argument("--features", default="default", metavar="LIST",
                   help="pahole's --btf_features list (default: the kernel's standard set)")
    p.add_argument("--lang-exclude", metavar="LANGS", help="skip CUs in these languages (rust)")
    p.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                   help="threads (default: one per CPU)")
    p.add_argument("--explain", action="append", metavar="NAME",
                   help="say why function or variable NAME gets BTF or not (repeatable); no "
                        "output file is written unless -o names one")
    p.add_argument("-q", "--quiet", action="store_true")

    p = add("diff", cmd_diff,
            "Compare two BTFs by structure (types, layouts, functions, variables), not by id.")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("-B", "--base", metavar="BASE", help="base of both, when they are split BTF")
    p.add_argument("--base-a", metavar="BASE", help="base of A")
    p.add_argument("--base-b", metavar="BASE", help="base of B")

    p = add("stats", cmd_stats, "Count types per kind and the sizes of the sections.")
    add_file_and_base(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("distill", cmd_distill,
            "Distill a module's base: write .BTF and .BTF.base as pahole's distilled_base does.")
    p.add_argument("split", metavar="SPLIT", help="split BTF: a module (.ko) or raw split BTF")
    p.add_argument("-B", "--base", metavar="BASE", required=True,
                   help="its base: the vmlinux it was built against (ELF or raw BTF)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--output", metavar="DIR",
                       help="write DIR/<name>.BTF and DIR/<name>.BTF.base (raw BTF)")
    where.add_argument("--in-place", action="store_true",
                       help="replace .BTF and add .BTF.base in the .ko (atomically; .BTF_ids "
                            "follows the new type ids)")

    p = add("relocate", cmd_relocate,
            "Relocate a module's BTF from its .BTF.base onto a vmlinux, as the kernel does.")
    p.add_argument("module", metavar="MODULE.ko", help="a module with .BTF and .BTF.base")
    p.add_argument("-B", "--base", metavar="VMLINUX", required=True,
                   help="vmlinux ELF, raw BTF or /sys/kernel/btf/vmlinux")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="write the relocated split BTF (raw) to OUT ('-': stdout); "
                        "without it, only check")

    p = add("check-module", cmd_check_module,
            "Dry-run relocation of modules onto kernels; exit 1 if any would not load.")
    p.add_argument("modules", metavar="MODULE.ko", nargs="+")
    p.add_argument("--vmlinux", metavar="V", nargs="+", required=True,
                   help="kernels: vmlinux ELF, raw BTF or /sys/kernel/btf/vmlinux")

    p = add("base-btf", cmd_base_btf,
            "Write a kernel's standalone BTF (the base for module BTF) as a raw BTF file.")
    p.add_argument("source", metavar="SRC",
                   help="vmlinux ELF, raw BTF, /sys/kernel/btf/vmlinux, or a compressed kernel "
                        "image (vmlinuz, bzImage)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="raw BTF ('-': stdout)")

    p = add("btfids", cmd_btfids,
            "List the .BTF_ids slots of an ELF file with the type ids they resolve to.")
    p.add_argument("file", metavar="ELF", help="vmlinux, a module (.ko) or an object file")
    p.add_argument("-B", "--base", metavar="BASE",
                   help="base BTF of a module (vmlinux ELF or raw BTF); ignored when the module "
                        "has .BTF.base, as resolve_btfids does")
    p.add_argument("--btf", metavar="BTF", help="take the BTF from this file (raw or ELF)")
    return ap


def run(argv: Sequence[str] | None, parser: argparse.ArgumentParser, prog: str) -> int:
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        rc = handler(args)
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
    if argv is None and getattr(args, "exit_keeping", None) is not None:
        _exit_now(rc)
    return rc


def _exit_now(rc: int) -> None:
    """End the process as the program (argv from the command line, never an in-process call)
    once a command that loaded a large model is done: freeing vmlinux's ~300k objects one by one
    costs ~15 ms, 5% of ``btfbuild dump``, and the process is ending anyway."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    except OSError:
        return  # let the normal exit report it
    os._exit(rc)


def main(argv: Sequence[str] | None = None) -> int:
    return run(argv, build_parser(), "btfbuild")


if __name__ == "__main__":
    sys.exit(main())
