"""resolve_btfids as kernels 6.19+ run it: BTF in, ``ELF.BTF``/``.BTF_ids``/``.BTF.base`` out.

Since the series "resolve_btfids: Change in-place update with raw binary output" (bpf-next,
December 2025, released in 6.19), kbuild runs ``scripts/gen-btf.sh`` for vmlinux
(``.tmp_vmlinux1``) and for each module: pahole writes the BTF of the ELF file to a detached
``ELF.BTF.1``, then::

    resolve_btfids [--fatal_warnings] [--distill_base] [--btf_base vmlinux] --btf ELF.BTF.1 ELF

(``--distill_base`` for out-of-tree modules, ``--fatal_warnings`` with ``CONFIG_WERROR``), and
objcopy puts the files written back into the module, or links them into vmlinux. The ELF file is
only read. As ``tools/bpf/resolve_btfids/main.c`` of bpf-next (August 2026) does it, a run

1. collects the ``__BTF_ID__*`` symbols of ``.BTF_ids`` as the in-place mode does (a file
   without that section or a symbol table skips steps 5 and 6's ``ELF.BTF_ids``);
2. loads the BTF: ``--btf``, else the ELF file's own, split over ``--btf_base`` when given;
3. annotates the kfuncs of the kfunc sets (:mod:`.btf2btf`);
4. deduplicates the BTF (libbpf's ``btf__dedup``, split BTF against its base), distills the base
   when both ``--distill_base`` and ``--btf_base`` are given (:mod:`btfbuild.btf.distill`), then
   sorts the object's own types by name, as ``strcmp`` orders bytes: anonymous types first, equal
   names in their previous order (``cmp_type_names`` and ``btf__permute``);
5. resolves the slots against that final BTF, warnings included, exactly as the in-place mode
   does (:mod:`.resolve`);
6. writes ``ELF.BTF_ids`` (the whole section, in the ELF file's byte order), ``ELF.BTF`` (raw
   BTF) and, with a distilled base, ``ELF.BTF.base``.

Which tool: the released one or bpf-next's. The tool of the kernels released so far (6.19 to
7.2; checked on 7.2's source and output) does less in steps 3 and 4, and the outputs differ, so
the ELF file's kernel release decides (:func:`~.symbols.kernel_version`: a module's
``vermagic``, vmlinux's ``linux_banner``):

* known and older than 7.3 (:data:`RELEASED_BEFORE`): the released tool. Step 3 only makes the
  ``_impl`` functions and prototypes of ``KF_IMPLICIT_ARGS`` kfuncs, for the functions pahole's
  ``decl_tag_kfuncs`` tagged ``bpf_kfunc`` (no decl tags added, no arena attributes); step 4 has
  no dedup, so strings no type uses any more stay, and equal prototypes stay apart. Kernels
  before 6.19 never run this form; they get the oldest behaviour there is, the released one.
* 7.3 and later, or unknown (test objects, BTF without a kernel): bpf-next's, as above.

Evidence: ``scripts/e2e-kernel --kernel 7.2`` runs 7.2's own resolve_btfids on the inputs ours
had, and compares the files. With bpf-next's behaviour, .tmp_vmlinux1's BTF had one PTR and one
TYPE_TAG more (arena), one FUNC_PROTO less (dedup merged two ``_impl`` prototypes), fewer
strings (dedup dropped unused ones), so 278 words of ``.BTF_ids`` were off by one; with this
rule every file is identical. 7.3's behaviour is assumed to be bpf-next's; no 7.3 was checked.

The header of the files: libbpf writes the ``hdr_len`` a BTF object has: that of the input for
BTF it parsed, ``sizeof(struct btf_header)`` for BTF it created (``btf_new_empty()``), which
``btf__distill_base()`` does for both its outputs. 7.2's libbpf has the kind layout section, so
that size is 32 (``layout_off``/``layout_len`` after ``str_len``, both 0 here), and the
distilled ``ELF.BTF`` and ``ELF.BTF.base`` of 7.2 have a 32-byte header, the others 24 (seen in
the 7.2 comparison). Only 7.2 is known to do this: older releases and bpf-next get 24 bytes
everywhere until their libbpf is checked.

Differences from the kernel tool, on purpose: nothing is written before everything is computed,
and each file is replaced atomically (the kernel tool writes them one after the other with
fopen()).

``--fatal_warnings`` does not change the exit status in this form, as in the kernel tool (6.19 to
7.2 and bpf-next): its ``main()`` keeps the status of the last file it wrote when warnings are
fatal, which is 0 once the files are written. A build that passes with the kernel's tool must
pass with ours, so the warnings are printed and the run still exits 0.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from ..atomic import write_file
from ..btf import raw
from ..btf.dedup import DedupError, dedup
from ..btf.distill import DistillError, distill
from ..btf.model import Btf
from ..btf.permute import permute
from ..errors import BtfbuildError
from . import _open, _prepare, _Prepared
from .btf2btf import annotate, discover, tagged_kfuncs
from .btfnames import ModelNames
from .errors import BtfIdsError, Log, quiet
from .resolve import patch_section, resolve_ids
from .symbols import kernel_version, read_layout

Release = tuple[int, int]  # (major, minor)

RELEASED_BEFORE: Release = (7, 3)  # the first release assumed to have bpf-next's tool
LAYOUT_HEADER: tuple[Release, ...] = ((7, 2),)  # libbpf writes 32-byte headers for new BTF


class Generated(NamedTuple):
    """What a run produced (and wrote, unless asked not to)."""

    btf: Btf  # ELF.BTF: split over `base` or over the --btf_base BTF, or standalone
    base: Btf | None  # ELF.BTF.base: the distilled base, with --distill_base
    btf_ids: bytes | None  # ELF.BTF_ids; None when the ELF has no .BTF_ids or no symbols
    warnings: int  # WARN lines printed
    files: list[str]  # the files written, in order
    kernel: Release | None = None  # the ELF file's kernel release, when it tells
    released: bool = False  # done as the released tool (see the module's docstring)


def released_tool(kernel: Release | None) -> bool:
    """Whether the ELF file of a kernel of release *kernel* gets the released tool's outputs."""
    return kernel is not None and kernel < RELEASED_BEFORE


def generate(path: str, *, btf: str | None = None, base: str | None = None,
             distill_base: bool = False, log: Log = quiet, write: bool = True) -> Generated:
    """Run the 6.19+ resolve_btfids on the ELF file *path* (*btf*, *base*: ``--btf``,
    ``--btf_base``); raises :class:`BtfIdsError` with the one-line message. The steps are the
    kernel tool's, in its order."""
    prep, kernel = _collect(path, log)
    released = released_tool(kernel)
    base_btf = _load_base(base) if base is not None else None
    model = _load(btf or path, base_btf, "BTF")
    warnings = 0
    if prep is not None:
        args = (prep.collected, prep.section, prep.idlist.addr, prep.layout.little_endian, model)
        if released:
            kfuncs = tagged_kfuncs(*args)
        else:
            found = discover(*args, log)
            warnings += found.warnings
            kfuncs = found.kfuncs
        annotate(model, kfuncs, log, released=released)
    model, distilled = _finalize(model, distill_base and base_btf is not None,
                                 deduplicate=not released)
    btf_ids = None
    if prep is not None:
        warnings += resolve_ids(prep.collected, ModelNames(model), log)
        patched = patch_section(prep.section, prep.collected, prep.idlist.addr,
                                prep.layout.little_endian, log)
        warnings += patched.warnings
        btf_ids = patched.data
    hdr_len = raw.HEADER_LEN
    if distilled is not None and released and kernel in LAYOUT_HEADER:
        hdr_len += 8  # layout_off, layout_len: btf__distill_base() made both objects anew
    outputs = {".BTF_ids": btf_ids, ".BTF": raw.encode(model, header_len=hdr_len),
               ".BTF.base": raw.encode(distilled, header_len=hdr_len)
               if distilled is not None else None}
    files = (_dump(path, outputs, log) if write
             else [path + s for s, d in outputs.items() if d is not None])
    return Generated(model, distilled, btf_ids, warnings, files, kernel, released)


def _collect(path: str, log: Log) -> tuple[_Prepared | None, Release | None]:
    """The ``.BTF_ids`` symbols (None: nothing to resolve) and the kernel release of *path*."""
    fd = _open(path, os.O_RDONLY)
    try:
        with os.fdopen(os.dup(fd), "rb") as f:
            layout = read_layout(f, path)
        kernel = kernel_version(fd, layout)
        if kernel is not None:
            log(1, f"{path}: kernel {kernel[0]}.{kernel[1]}, "
                   f"{'released' if released_tool(kernel) else 'bpf-next'} resolve_btfids")
        return _prepare(fd, path, log, "skip symbols resolution", layout), kernel
    finally:
        os.close(fd)


def _load_base(path: str) -> Btf:
    base = _load(path, None, "base BTF")
    if base.base is not None:
        raise BtfIdsError(f"FAILED: load base BTF from {path}: it is split BTF (over its "
                          ".BTF.base); a base must be standalone BTF")
    return base


def _finalize(model: Btf, distill_base: bool, deduplicate: bool = True) -> tuple[Btf, Btf | None]:
    """Dedup (unless the released tool), distill (when asked), sort: the final BTF and its
    distilled base."""
    if deduplicate:
        try:
            model = dedup(model)
        except DedupError as exc:
            raise BtfIdsError(f"FAILED to dedup BTF: {exc}") from None
    distilled = None
    if distill_base:
        try:
            d = distill(model)
        except DistillError as exc:
            raise BtfIdsError(f"FAILED to distill base BTF: {exc}") from None
        distilled, model = d.base, d.split
    sort_by_name(model)
    return model, distilled


def _dump(path: str, outputs: dict[str, bytes | None], log: Log) -> list[str]:
    """Write ``path + suffix`` for each output there is, in order; the paths written."""
    files = []
    for suffix, data in outputs.items():
        if data is None:
            continue
        out = path + suffix
        try:
            write_file(out, data)
        except OSError as exc:
            raise BtfIdsError(f"FAILED cannot write {out}: {exc.strerror or exc}") from None
        log(1, f"Dumped {len(data)} bytes of data to {out}")
        files.append(out)
    return files


def sort_by_name(btf: Btf) -> dict[int, int]:
    """Order *btf*'s own types by name (bytes), anonymous first, ties by id; old -> new id."""
    name = btf.strings.get_bytes
    types = btf.types
    start = btf.start_id
    order = sorted(range(start, btf.type_count), key=lambda i: (name(types[i - start].name_off), i))
    return permute(btf, order)


def _load(path: str, base: Btf | None, what: str) -> Btf:
    """libbpf's ``btf__parse_split()`` of raw BTF or an ELF file's ``.BTF``, with the kernel
    tool's message on failure."""
    from ..btf.io import load

    try:
        return load(path, base)
    except BtfbuildError as exc:
        why = str(exc).removeprefix(f"{path}: ")
        raise BtfIdsError(f"FAILED: load {what} from {path}: {why}") from None
