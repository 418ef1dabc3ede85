"""``btfbuild-resolve-btfids``: a drop-in for the kernel's ``tools/bpf/resolve_btfids``.

Command line, messages and exit status follow the kernel tool (6.12)::

    btfbuild-resolve-btfids [-v] [--btf FILE] [-b|--btf_base FILE] [--fatal_warnings] ELF
    btfbuild-resolve-btfids --patch_btfids BLOB ELF

* options as the kernel's subcmd parser takes them: bundled short options (``-vv``,
  ``-bFILE``), ``--opt=value``, unambiguous abbreviations, ``--no-<opt>``, options before the
  ELF only;
* exit 0 on success, also when the ELF has no ``.BTF_ids`` (nothing to do); 255 on failure with
  one ``FAILED ...`` line on stderr (never a traceback); 129 on usage errors, after the usage;
* ``WARN: resolve_btfids: unresolved symbol NAME`` and ``WARN: multiple IDs found ...`` as the
  kernel prints them, on stderr; ``--fatal_warnings`` (kernels 6.15+) turns them into exit 255
  after the file is written;
* ``--patch_btfids BLOB`` (kernels 6.19+) copies a ``.BTF_ids`` data file into the section.

Not supported: the 6.19+ mode that writes ``ELF.BTF``/``ELF.BTF_ids``/``ELF.BTF.base`` files
(``--btf ELF.BTF.1`` as scripts/gen-btf.sh passes it, ``--distill_base``; kfunc decl tags, BTF
dedup and sorting); it is refused with a one-line error rather than patching the ELF instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

PROG = "btfbuild-resolve-btfids"

USAGE = f"""
 Usage: {PROG} [<options>] <ELF object>
    or: {PROG} --patch_btfids <.BTF_ids file> <ELF object>

    -b, --btf_base <file>
                          path of file providing base BTF
    -v, --verbose         be more verbose (show errors, etc)
        --btf <file>      path to a file with input BTF data
        --fatal_warnings  turn warnings into errors
        --patch_btfids <file>
                          path to .BTF_ids section data blob to patch into ELF file
        --distill_base    distill --btf_base and emit .BTF.base section data (not supported)
"""


class Options:
    def __init__(self) -> None:
        self.verbose = 0
        self.btf: str | None = None
        self.btf_base: str | None = None
        self.fatal_warnings = False
        self.distill_base = False
        self.patch_btfids: str | None = None


class UsageError(Exception):
    """Bad command line: the message (may be empty) goes before the usage; exit 129."""


# long name -> (short name, takes a value)
_LONG = {
    "verbose": ("v", False),
    "btf": ("", True),
    "btf_base": ("b", True),
    "fatal_warnings": ("", False),
    "distill_base": ("", False),
    "patch_btfids": ("", True),
}
_SHORT = {"v": "verbose", "b": "btf_base"}


def _set(opts: Options, name: str, value: str | None, negated: bool) -> None:
    if name == "verbose":
        opts.verbose = 0 if negated else opts.verbose + 1
    elif name in ("fatal_warnings", "distill_base"):
        setattr(opts, name, not negated)
    else:
        setattr(opts, name, None if negated else value)


def parse_args(argv: Sequence[str]) -> tuple[Options, list[str]]:
    """Options up to the first non-option argument, as tools/lib/subcmd/parse-options.c."""
    opts = Options()
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        i += 1
        if arg.startswith("--"):
            body, eq, value = arg[2:].partition("=")
            if body == "help":
                raise UsageError("")
            negated = False
            name = body if body in _LONG else None
            if name is None:
                matches = [n for n in _LONG if n.startswith(body)]
                if not matches and body.startswith("no-"):
                    negated = True
                    base = body[3:]
                    matches = [base] if base in _LONG else [
                        n for n in _LONG if n.startswith(base)]
                if len(matches) > 1:
                    raise UsageError(f" Error: Ambiguous option: {body} (could be --"
                                     f"{matches[0]} or --{matches[1]})")
                if not matches:
                    raise UsageError(f" Error: unknown option `{body}'")
                name = matches[0]
            takes_value = _LONG[name][1]
            if negated or not takes_value:
                if eq:
                    raise UsageError(f" Error: option `{name}' takes no value")
                _set(opts, name, None, negated)
                continue
            if not eq:
                if i >= len(args):
                    raise UsageError(f" Error: option `{name}' requires a value")
                value = args[i]
                i += 1
            _set(opts, name, value, False)
            continue
        # bundled short options: -vv, -bFILE, -vb FILE
        j = 1
        while j < len(arg):
            c = arg[j]
            j += 1
            if c == "h":
                raise UsageError("")
            if c not in _SHORT:
                raise UsageError(f" Error: unknown switch `{c}'")
            name = _SHORT[c]
            if not _LONG[name][1]:
                _set(opts, name, None, False)
                continue
            if j < len(arg):
                value = arg[j:]
            elif i < len(args):
                value = args[i]
                i += 1
            else:
                raise UsageError(f" Error: switch `{c}' requires a value")
            _set(opts, name, value, False)
            break
    return opts, args[i:]


def _is_gen_btf_input(btf: str | None, elf: str) -> bool:
    """``--btf ELF.BTF.1``: how scripts/gen-btf.sh (kernels 6.19+) calls the tool, expecting BTF
    files out rather than a patched ELF. Kernels up to 6.18 never pass --btf from kbuild."""
    return btf is not None and os.path.abspath(btf) == os.path.abspath(elf) + ".BTF.1"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        opts, rest = parse_args(sys.argv[1:] if argv is None else argv)
        if len(rest) != 1:
            raise UsageError("")
    except UsageError as exc:
        if str(exc):
            print(str(exc), file=sys.stderr)
        sys.stderr.write(USAGE + "\n")
        return 129
    path = rest[0]
    verbose = opts.verbose

    def log(level: int, msg: str) -> None:
        if verbose >= level:
            sys.stderr.write(msg + "\n")

    try:
        from ..btfids import patch_btfids_blob, resolve_file
        from ..errors import BtfbuildError

        try:
            if opts.patch_btfids is not None:
                patch_btfids_blob(opts.patch_btfids, path, log)
                return 0
            if opts.distill_base or _is_gen_btf_input(opts.btf, path):
                print("FAILED: the 6.19+ mode that writes ELF.BTF, ELF.BTF_ids and ELF.BTF.base "
                      "(--btf ELF.BTF.1, --distill_base) is not supported by btfbuild yet",
                      file=sys.stderr)
                return 255
            result = resolve_file(path, btf=opts.btf, base=opts.btf_base, log=log)
        except BtfbuildError as exc:
            print(str(exc), file=sys.stderr)
            return 255
        if opts.fatal_warnings and result.warnings:
            return 255
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug of ours: still one line, still the kernel tool's status
        print(f"FAILED: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 255


if __name__ == "__main__":
    sys.exit(main())
