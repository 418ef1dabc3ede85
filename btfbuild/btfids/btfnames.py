"""Which type ids carry a given name, per kind: the only question resolve_btfids asks of BTF.

Two answers to it:

* :class:`RawNames` walks raw BTF (a ``.BTF`` section, a raw file, a ``.BTF.base``) record by
  record, keeping nothing but the ids and name offsets of FUNC, STRUCT, UNION and TYPEDEF
  records. It never builds type objects, so a vmlinux's 100,000+ types cost tens of
  milliseconds, which is what lets a module's run stay close to the C tool's.
* :class:`ModelNames` answers from a :class:`btfbuild.btf.Btf` already in memory.

Both return, for every wanted ``(kind, name)``, the ascending list of matching type ids over
the unified id space of split BTF (base ids first), which is all the resolver needs to replay
the kernel tool's search, warnings included. Names are bytes, compared as ``strcmp`` does.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate, compress, count, repeat
from operator import add, itemgetter, sub
from typing import TYPE_CHECKING, Protocol

from ..errors import BtfFormatError

if TYPE_CHECKING:
    from ..btf import Btf

MAGIC = 0xEB9F
HEADER_LEN = 24

# the kinds resolve_btfids looks up, by BTF kind number
KIND_OF = {"struct": 4, "union": 5, "typedef": 8, "func": 12}

# record length in 32-bit words by kind: fixed part (header included) + per-member words * vlen;
# -1 marks kinds libbpf refuses to parse
_FIXED = [-1] * 32
_PER = [0] * 32
for _kind, _fixed, _per in (
    (1, 4, 0),  # INT
    (2, 3, 0),  # PTR
    (3, 6, 0),  # ARRAY
    (4, 3, 3),  # STRUCT
    (5, 3, 3),  # UNION
    (6, 3, 2),  # ENUM
    (7, 3, 0),  # FWD
    (8, 3, 0),  # TYPEDEF
    (9, 3, 0),  # VOLATILE
    (10, 3, 0),  # CONST
    (11, 3, 0),  # RESTRICT
    (12, 3, 0),  # FUNC
    (13, 3, 2),  # FUNC_PROTO
    (14, 4, 0),  # VAR
    (15, 3, 3),  # DATASEC
    (16, 3, 0),  # FLOAT
    (17, 4, 0),  # DECL_TAG
    (18, 3, 0),  # TYPE_TAG
    (19, 3, 3),  # ENUM64
):
    _FIXED[_kind] = _fixed
    _PER[_kind] = _per
# the scan's step table: an unknown kind jumps past any end, and is explained afterwards
_STEP = [f if f >= 0 else 1 << 40 for f in _FIXED]

# up to this many names, each is searched for in the string table; beyond, the table is split
_FIND_LIMIT = 24

Wanted = Mapping[int, Iterable[bytes]]  # BTF kind -> names
Found = dict[int, dict[bytes, list[int]]]  # BTF kind -> name -> ascending type ids


class NameSource(Protocol):
    @property
    def type_count(self) -> int:
        """Number of type ids including void and the base's (libbpf's ``btf__type_cnt``)."""
        ...

    def lookup(self, wanted: Wanted) -> Found:
        """Every id, over the whole unified view, whose kind and name are wanted."""
        ...


class RawNames:
    """Kind and name of each type of raw BTF bytes, optionally split over *base*."""

    little_endian: bool
    str_start: int
    str_end: int

    def __init__(self, data: bytes, base: RawNames | None = None) -> None:
        if len(data) < 4:
            raise BtfFormatError("BTF header not found")
        magic_le, = struct.unpack_from("<H", data)
        if magic_le == MAGIC:
            e = "<"
        elif struct.unpack_from(">H", data)[0] == MAGIC:
            e = ">"
        else:
            raise BtfFormatError(f"invalid BTF magic: {magic_le:x}")
        if len(data) < HEADER_LEN:
            raise BtfFormatError("BTF header not found")
        _m, version, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            e + "HBBIIIII", data)
        if version != 1:
            raise BtfFormatError(f"unsupported BTF version {version}")
        if hdr_len < HEADER_LEN or hdr_len > len(data):
            raise BtfFormatError(f"BTF header len {hdr_len} larger than data size {len(data)}")
        body = len(data) - hdr_len
        if type_off + type_len > body or str_off + str_len > body:
            raise BtfFormatError(
                f"invalid BTF data sections layout: type data at {type_off} + {type_len}, "
                f"strings data at {str_off} + {str_len}")
        if type_off % 4 or type_len % 4:
            raise BtfFormatError("BTF type section is not aligned to 4 bytes")
        if base is not None and base.little_endian != (e == "<"):
            raise BtfFormatError("split BTF and its base differ in byte order")
        self.little_endian = e == "<"
        self.base = base
        self.start_id = base.type_count if base is not None else 1
        self.str_start = base.str_end if base is not None else 0
        self._types = data[hdr_len + type_off : hdr_len + type_off + type_len]
        self._strings = data[hdr_len + str_off : hdr_len + str_off + str_len]
        strs = self._strings
        if not (base is not None and not strs) and (
                not strs or strs[-1] != 0 or (base is None and strs[0] != 0)):
            raise BtfFormatError("invalid BTF string section")
        self.str_end = self.str_start + len(strs)
        self._words: memoryview | array[int] = memoryview(b"")
        self._starts: list[int] = []  # word index of each type record
        self._unified: bytes | None = None
        self._scan()

    @property
    def type_count(self) -> int:
        return self.start_id + len(self._starts)

    def _scan(self) -> None:
        native_little = sys.byteorder == "little"
        words: memoryview | array[int]
        if native_little == self.little_endian:
            words = memoryview(self._types).cast("I")
        else:
            words = array("I")
            words.frombytes(self._types)
            words.byteswap()
        self._words = words
        n = len(words)
        fixed, per = _STEP, _PER
        starts: list[int] = []
        mark = starts.append
        i = 0
        # the hot loop: ~300 ns a type, nothing in it that is not needed to find the next one
        while i < n:
            mark(i)
            info = words[i + 1] if i + 1 < n else 0
            kind = info >> 24 & 0x1F
            i += fixed[kind] + per[kind] * (info & 0xFFFF)
        self._starts = starts
        if i != n:
            self._explain_bad_record()

    def _explain_bad_record(self) -> None:
        words, n = self._words, len(self._words)
        for j, i in enumerate(self._starts):
            tid = self.start_id + j
            if i + 3 > n:
                raise BtfFormatError(f"type [{tid}]: truncated record")
            kind = words[i + 1] >> 24 & 0x1F
            if _FIXED[kind] < 0:
                raise BtfFormatError(f"type [{tid}]: unsupported BTF kind {kind}")
        raise BtfFormatError(f"type [{self.type_count - 1}]: record runs past the end of the "
                             "type section")

    def _name_offsets(self) -> Sequence[int]:
        starts, words = self._starts, self._words
        if len(starts) > 1:
            return itemgetter(*starts)(words)  # type: ignore[no-any-return]
        return [words[i] for i in starts]

    def _chain(self) -> list[RawNames]:
        """This BTF and its bases, the first base first."""
        chain: list[RawNames] = []
        level: RawNames | None = self
        while level is not None:
            chain.append(level)
            level = level.base
        chain.reverse()
        return chain

    def strings(self) -> bytes:
        """The unified string table: absolute name offsets index it directly."""
        if self._unified is None:
            self._unified = b"".join(lv._strings for lv in self._chain())
        return self._unified

    def string_at(self, off: int) -> bytes:
        """The NUL-terminated string at absolute offset *off* of the unified string table."""
        strs = self.strings()
        if not 0 <= off < len(strs):
            raise BtfFormatError(f"invalid string offset {off}")
        return strs[off : strs.index(b"\0", off)]

    def _find_names(self, names: set[bytes], offsets: list[Sequence[int]]) -> dict[int, bytes]:
        """Offsets at which one of *names* starts, including offsets into the middle of a longer
        string (libbpf reads names that way); *offsets* are the record names of each level."""
        strs = self.strings()
        found: dict[int, bytes] = {}
        if len(names) <= _FIND_LIMIT:
            find = strs.find
            for name in names:
                pat = name + b"\0"
                pos = find(pat)
                while pos >= 0:
                    found[pos] = name
                    pos = find(pat, pos + len(pat))
            return found
        # many names: one split of the table finds those at string starts, ...
        parts = strs.split(b"\0")[:-1]
        starts = map(add, accumulate(map(len, parts), initial=0), count())
        found = {off: name for name, off in compress(zip(parts, starts, strict=False),
                                                     map(names.__contains__, parts))}
        # ... and names pointing into the middle of a string (rare, but legal) are read one by one
        for offs in offsets:
            try:
                after_nul = map(strs.__getitem__, map(sub, offs, repeat(1)))
                for off in compress(offs, after_nul):
                    name = self.string_at(off)
                    if name in names:
                        found[off] = name
            except IndexError:
                bad = next(o for o in offs if not 0 <= o < len(strs))
                raise BtfFormatError(f"invalid name offset {bad}") from None
        return found

    def lookup(self, wanted: Wanted) -> Found:
        want = {k: set(v) for k, v in wanted.items() if v}
        out: Found = {}
        if not want:
            return out
        all_names: set[bytes] = set().union(*want.values())
        chain = self._chain()
        offsets = [lv._name_offsets() for lv in chain]
        hits = self._find_names(all_names, offsets)
        for lv, offs in zip(chain, offsets, strict=True):
            words, starts_of = lv._words, lv._starts
            for j in compress(count(), map(hits.__contains__, offs)):
                kind = words[starts_of[j] + 1] >> 24 & 0x1F
                names = want.get(kind)
                name = hits[offs[j]]
                if names is not None and name in names:
                    out.setdefault(kind, {}).setdefault(name, []).append(lv.start_id + j)
        return out


class ModelNames:
    """The same answers from a :class:`~btfbuild.btf.Btf` model (split or not)."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf

    @property
    def type_count(self) -> int:
        return self.btf.type_count

    def lookup(self, wanted: Wanted) -> Found:
        want = {k: set(v) for k, v in wanted.items() if v}
        out: Found = {}
        btf = self.btf
        for tid, t in btf.all_types():
            names = want.get(int(t.kind))
            if not names:
                continue
            name = btf.strings.get_bytes(t.name_off)
            if name in names:
                out.setdefault(int(t.kind), {}).setdefault(name, []).append(tid)
        return out
