"""The BTF string section.

Strings are NUL-terminated and addressed by byte offset. In split BTF the offsets continue after
the base's string section, so a split table delegates offsets below ``start`` to its base.
Names are decoded as UTF-8 with ``surrogateescape`` so any byte sequence round-trips.
"""

from __future__ import annotations

from itertools import accumulate


class StringTable:
    __slots__ = ("_cache", "_data", "_filled", "_index", "base", "start")

    def __init__(self, data: bytes | bytearray = b"\0", base: StringTable | None = None) -> None:
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

    def _fill_cache(self) -> None:
        """Decode every string once: one split beats a find and a decode per lookup."""
        parts = bytes(self._data).split(b"\0")
        texts = (bytes(self._data).decode("ascii").split("\0") if self._data.isascii()
                 else [p.decode("utf-8", "surrogateescape") for p in parts])
        offsets = accumulate((len(p) + 1 for p in parts), initial=self.start)
        self._cache = dict(zip(offsets, texts, strict=False))
        self._filled = True

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
