"""The kfuncs of an ELF file, for the ``decl_tag_kfuncs`` BTF feature.

pahole 1.30 (``btf_encoder__collect_kfuncs`` and ``is_sym_kfunc_set`` in btf_encoder.c) reads them
from the file being encoded, and this module follows it:

* the symbol table is the last ``SHT_SYMTAB``, the id list the last section named ``.BTF_ids``;
  without either there are no kfuncs (no error);
* the section's data is read as 32-bit words in the file's byte order;
* a symbol defined in ``.BTF_ids`` named ``__BTF_ID__set8__<set>`` is a kfunc set when the flags
  word of its set8 (the second word, after the count) has ``BTF_SET8_KFUNCS``; the set spans
  ``[st_value, st_value + st_size)``. A set symbol outside the section's data is not a set
  (pahole warns ``symbol ... out of bounds``);
* a symbol defined in ``.BTF_ids`` named ``__BTF_ID__func__<name>__<n>`` whose value lies in a
  kfunc set is the kfunc ``<name>`` (the text before the last ``__``); its flags are the word after
  its id slot, i.e. the second word of its ``{id, flags}`` pair. A pair that does not fit in the
  section fails the encoding, as in pahole;
* symbol values are addresses in a linked file and section offsets in a relocatable one; both
  become offsets into the section by subtracting its ``sh_addr`` (0 in a relocatable file);
* a name in several sets keeps the flags of the last symbol (in symbol table order).

The native encoder then tags the FUNCs of these names (``native/src/encode.rs``, ``KfuncTags``).
"""

from __future__ import annotations

import struct
from pathlib import Path

from .btf.elf import BadElf, read_headers
from .errors import BtfbuildError

SET8_PREFIX = b"__BTF_ID__set8__"
FUNC_PREFIX = b"__BTF_ID__func__"
BTF_SET8_KFUNCS = 1 << 0  # include/linux/btf_ids.h
KF_FASTCALL = 1 << 12  # include/linux/btf.h: gets DECL_TAG bpf_fastcall


def func_name(symbol: bytes) -> bytes | None:
    """``foo`` of ``__BTF_ID__func__foo__12``; None for other symbols and malformed names
    (pahole's ``get_func_name``: the name ends at the last ``_``, which must follow a ``_``)."""
    from .btfids.symbols import parse_name

    if not symbol.startswith(FUNC_PREFIX):
        return None
    # parse_name skips the two characters after the kind, here the prefix's final "__"
    return parse_name(symbol[len(FUNC_PREFIX) - 2:])


def read_kfuncs(path: Path) -> list[tuple[bytes, int]]:
    """The kfuncs of the ELF file *path* with their KF_* flags, in the order of their first
    symbol; empty when the file has no ``.BTF_ids`` or no symbol table."""
    try:
        with path.open("rb") as f:
            # most modules have no .BTF_ids: answer from the section headers alone, without
            # loading resolve_btfids' symbol reader
            if not any(h.name == b".BTF_ids" for h in read_headers(f).sections):
                return []
            from .btfids.symbols import SHT_NOBITS, btf_id_symbols, read_at, read_layout

            layout = read_layout(f, str(path))
            idlist = layout.idlist
            if layout.symtab is None or idlist is None:
                return []
            fd = f.fileno()
            data = b"" if idlist.type == SHT_NOBITS else read_at(fd, idlist.offset, idlist.size,
                                                                 ".BTF_ids")
            symbols = btf_id_symbols(fd, layout)
    except OSError as exc:
        raise BtfbuildError(f"{path}: {exc.strerror or exc}") from None
    except BadElf as exc:
        raise BtfbuildError(f"{path}: cannot read the kfunc sets of .BTF_ids: {exc}") from None
    except BtfbuildError as exc:
        raise BtfbuildError(f"{path}: cannot read the kfunc sets of .BTF_ids: {exc}") from None

    word = struct.Struct("<I" if layout.little_endian else ">I")

    def word_at(off: int) -> int | None:
        if off < 0 or off + 4 > len(data):
            return None
        return int(word.unpack_from(data, off)[0])

    ranges: list[tuple[int, int]] = []
    for sym in symbols:
        if not sym.name.startswith(SET8_PREFIX):
            continue
        off = sym.value - idlist.addr
        set_flags = word_at(off + 4) if 0 <= off < len(data) else None
        if set_flags is not None and set_flags & BTF_SET8_KFUNCS:
            ranges.append((sym.value, sym.value + sym.size))

    kfuncs: dict[bytes, int] = {}
    for sym in symbols:
        name = func_name(sym.name)
        if name is None or not any(lo <= sym.value < hi for lo, hi in ranges):
            continue
        off = sym.value - idlist.addr
        flags = word_at(off + 4) if off >= 0 else None
        if flags is None:
            shown = name.decode("utf-8", "surrogateescape")
            raise BtfbuildError(f"{path}: kfunc '{shown}' offset outside section '.BTF_ids'")
        kfuncs[name] = flags
    return list(kfuncs.items())


__all__ = ["BTF_SET8_KFUNCS", "KF_FASTCALL", "func_name", "read_kfuncs"]
