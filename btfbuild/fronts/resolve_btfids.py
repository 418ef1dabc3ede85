"""``btfbuild-resolve-btfids``: a drop-in for the kernel's ``tools/bpf/resolve_btfids``.

Command line, messages and exit status follow the kernel tool::

    btfbuild-resolve-btfids [-v] [--btf FILE] [-b|--btf_base FILE] [--fatal_warnings] ELF
    btfbuild-resolve-btfids [-v] --btf ELF.BTF.1 [-b FILE] [--distill_base] [--fatal_warnings] ELF
    btfbuild-resolve-btfids --patch_btfids BLOB ELF

The first form fills the ``.BTF_ids`` section of ELF in place, as the tool of kernels up to 6.18
does. The second is how kernels 6.19+ run it (``scripts/gen-btf.sh``): the ELF file is only
read, and the BTF, with kfunc annotations, deduplicated, distilled with ``--distill_base``,
sorted by name, goes to ``ELF.BTF``, the resolved section to ``ELF.BTF_ids`` and the distilled
base to ``ELF.BTF.base`` (:mod:`btfbuild.btfids.genbtf`); for an ELF file of a kernel up to 7.2
(its ``vermagic`` or ``linux_banner`` tells), as the released tool does it: ``_impl`` functions
only, no dedup. The kernel tool has only one of the two
behaviours, depending on its version, so the form is told by the call: ``--btf`` naming
``ELF.BTF.1`` next to ELF, as gen-btf.sh passes it, or ``--distill_base``, selects the second.

* options as the kernel's subcmd parser takes them: bundled short options (``-vv``,
  ``-bFILE``), ``--opt=value``, unambiguous abbreviations, ``--no-<opt>``, options before the
  ELF only;
* exit 0 on success, also when the ELF has no ``.BTF_ids`` (nothing to do); 255 on failure with
  one ``FAILED ...`` line on stderr (``ERROR: resolve_btfids: ...`` for the kfunc steps, as the
  kernel words them; never a traceback); 129 on usage errors, after the usage;
* ``WARN: resolve_btfids: unresolved symbol NAME``, ``WARN: multiple IDs found ...`` and, in the
  6.19+ form, ``WARN: resolve_btfids: no BTF func for kfunc ...``/``no BTF ID symbol for ...``
  as the kernel prints them, on stderr; ``--fatal_warnings`` (kernels 6.15+) turns them into
  exit 255 after the file is patched, in the in-place form only (the kernel tool's 6.19+ form
  exits 0 all the same, see :mod:`btfbuild.btfids.genbtf`);
* ``--patch_btfids BLOB`` (kernels 6.19+) copies a ``.BTF_ids`` data file into the section.
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
        --distill_base    distill --btf_base and emit .BTF.base section data
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


def writes_blobs(opts: Options, elf: str) -> bool:
    """Whether the call is the 6.19+ form, which writes files instead of patching *elf*:
    ``--distill_base`` (new in 6.19), or ``--btf ELF.BTF.1``, the file scripts/gen-btf.sh has
    pahole write. Kernels up to 6.18 never pass --btf from kbuild."""
    btf = opts.btf
    return opts.distill_base or (
        btf is not None and os.path.abspath(btf) == os.path.abspath(elf) + ".BTF.1")


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
            if writes_blobs(opts, path):
                from ..btfids.genbtf import generate

                generate(path, btf=opts.btf, base=opts.btf_base,
                         distill_base=opts.distill_base, log=log)
                return 0  # --fatal_warnings or not, as the kernel tool's 6.19+ form
            else:
                warnings = resolve_file(path, btf=opts.btf, base=opts.btf_base,
                                        log=log).warnings
        except BtfbuildError as exc:
            print(str(exc), file=sys.stderr)
            return 255
        if opts.fatal_warnings and warnings:
            return 255
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug of ours: still one line, still the kernel tool's status
        print(f"FAILED: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 255


if __name__ == "__main__":
    sys.exit(main())
