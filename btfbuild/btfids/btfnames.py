"""Which type ids carry a given name, per kind: the only question resolve_btfids asks of BTF.

Two answers to it:

* :class:`RawNames` walks raw BTF (a ``.BTF`` section, a raw file, a ``.BTF.base``) record by
  record in the native core, matching the names of FUNC, STRUCT, UNION and TYPEDEF records
  against the wanted ones. It never builds type objects, so a vmlinux's 100,000+ types cost
  about a millisecond, which is what lets a run stay close to the C tool's.
* :class:`ModelNames` answers from a :class:`btfbuild.btf.Btf` already in memory.

Both return, for every wanted ``(kind, name)``, the ascending list of matching type ids over
the unified id space of split BTF (base ids first), which is all the resolver needs to replay
the kernel tool's search, warnings included. Names are bytes, compared as ``strcmp`` does.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, NoReturn, Protocol

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

    def __init__(self, data: bytes | memoryview, base: RawNames | None = None) -> None:
        """*data*: raw BTF; a memoryview (of an mmap, say) is used without copying."""
        data = memoryview(data)
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
        self._count = 0
        self._scan()

    @property
    def type_count(self) -> int:
        return self.start_id + self._count

    def _scan(self) -> None:
        # the native walk: ~25 ms in Python for a vmlinux, under 1 ms there
        from btfbuild import _native

        count = _native.btf_record_count(self._types, self.little_endian)
        if count is None:
            self._explain_bad_record()
        self._count = count

    def _explain_bad_record(self) -> NoReturn:
        """Raise the error for the first record that is truncated or of an unknown kind."""
        e = "<" if self.little_endian else ">"
        types, n = self._types, len(self._types) // 4
        i, tid = 0, self.start_id
        while i < n:
            if i + 3 > n:
                raise BtfFormatError(f"type [{tid}]: truncated record")
            info, = struct.unpack_from(e + "I", types, 4 * (i + 1))
            kind = info >> 24 & 0x1F
            if _FIXED[kind] < 0:
                raise BtfFormatError(f"type [{tid}]: unsupported BTF kind {kind}")
            i += _FIXED[kind] + _PER[kind] * (info & 0xFFFF)
            tid += 1
        raise BtfFormatError(f"type [{tid - 1}]: record runs past the end of the type section")

    def _chain(self) -> list[RawNames]:
        """This BTF and its bases, the first base first."""
        chain: list[RawNames] = []
        level: RawNames | None = self
        while level is not None:
            chain.append(level)
            level = level.base
        chain.reverse()
        return chain

    def lookup(self, wanted: Wanted) -> Found:
        from btfbuild import _native

        want = [(k, sorted(set(v))) for k, v in wanted.items() if v]
        out: Found = {}
        if not want:
            return out
        levels = [(lv._types, lv._strings, lv.little_endian, lv.start_id) for lv in self._chain()]
        try:
            hits = _native.btf_lookup_names(levels, want)
        except ValueError as exc:
            raise BtfFormatError(str(exc)) from None
        names_of = dict(want)
        for kind, idx, tid in hits:
            out.setdefault(kind, {}).setdefault(names_of[kind][idx], []).append(tid)
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
