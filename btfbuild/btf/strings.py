"""The BTF string section.

Strings are NUL-terminated and addressed by byte offset. In split BTF the offsets continue after
the base's string section, so a split table delegates offsets below ``start`` to its base.
Names are decoded as UTF-8 with ``surrogateescape`` so any byte sequence round-trips.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import accumulate, chain, repeat
from operator import add


class StringTable:
    __slots__ = ("_cache", "_data", "_filled", "_index", "base", "start")

    def __init__(self, data: bytes | bytearray | memoryview = b"\0",
                 base: StringTable | None = None) -> None:
        self._data = bytearray(data)
        self.base = base
        self.start = base.end if base is not None else 0
        self._cache: dict[int, str] = {}
        self._filled = False
        self._index: dict[str, int] | None = None

    @property
    def end(self) -> int:
        """One past the last offset of this table (the start of a split table over it)."""
        return self.start + len(self._data)

    @property
    def data(self) -> bytes:
        return bytes(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def is_valid_offset(self, off: int) -> bool:
        if off < self.start:
            return self.base is not None and self.base.is_valid_offset(off)
        return off < self.end

    def _decode_all(self) -> Iterator[tuple[int, str]]:
        """``(offset, string)`` for every string start of this table: one split beats a find
        and a decode per lookup."""
        data = self._data  # decoded as it is: a copy of megabytes costs page faults too
        texts: list[str]
        if data.isascii():
            texts = data.decode("ascii").split("\0")
            lengths = map(len, texts)
        else:
            parts = data.split(b"\0")
            texts = [p.decode("utf-8", "surrogateescape") for p in parts]
            lengths = map(len, parts)
        if not texts[-1]:
            texts.pop()  # after the last NUL: offset end, which names nothing
        offsets = accumulate(map(add, lengths, repeat(1)), initial=self.start)
        return zip(offsets, texts, strict=False)

    def _fill_cache(self) -> None:
        self._cache = dict(self._decode_all())
        self._filled = True

    def as_dict(self) -> dict[int, str]:
        """A new dict of the string at every string start (and every offset looked up so far),
        base tables included: for bulk lookups without a call per name."""
        return dict(self.items())

    def items(self) -> Iterable[tuple[int, str]]:
        """``(offset, string)`` for what :meth:`as_dict` holds, base tables first: to fill a
        dict of one's own (a dict subclass) without building and copying another."""
        own = self._cache.items() if self._filled else self._decode_all()
        return own if self.base is None else chain(self.base.items(), own)

    def get(self, off: int) -> str:
        """The string at *off*; raises IndexError for an offset outside the table."""
        s = self._cache.get(off)
        if s is not None:
            return s
        if not self._filled:
            self._fill_cache()
            s = self._cache.get(off)
            if s is not None:
                return s
        if off < self.start:
            if self.base is None:
                raise IndexError(off)
            return self.base.get(off)
        rel = off - self.start
        if rel >= len(self._data):
            raise IndexError(off)
        end = self._data.find(b"\0", rel)
        if end < 0:
            end = len(self._data)
        s = self._data[rel:end].decode("utf-8", "surrogateescape")
        self._cache[off] = s
        return s

    def get_bytes(self, off: int) -> bytes:
        if off < self.start:
            if self.base is None:
                raise IndexError(off)
            return self.base.get_bytes(off)
        rel = off - self.start
        if rel >= len(self._data):
            raise IndexError(off)
        end = self._data.find(b"\0", rel)
        return bytes(self._data[rel : end if end >= 0 else len(self._data)])

    def find(self, s: str) -> int | None:
        """Offset of *s* (in this table or its base), or None."""
        if self.base is not None:
            off = self.base.find(s)
            if off is not None:
                return off
        if self._index is None:
            self._index = {}
            pos = 0
            data = self._data
            n = len(data)
            while pos < n:
                end = data.find(b"\0", pos)
                if end < 0:
                    end = n
                self._index.setdefault(data[pos:end].decode("utf-8", "surrogateescape"),
                                       self.start + pos)
                pos = end + 1
        return self._index.get(s)

    def add(self, s: str) -> int:
        """Offset of *s*, appending it when it is not present yet ("" is offset 0)."""
        if s == "" and self.start == 0:
            return 0
        off = self.find(s)
        if off is not None:
            return off
        off = self.end
        self._data += s.encode("utf-8", "surrogateescape") + b"\0"
        if self._filled:
            self._cache[off] = s
        assert self._index is not None
        self._index[s] = off
        return off
