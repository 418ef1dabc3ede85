"""Exceptions that the command line turns into one-line messages and a non-zero exit."""

from __future__ import annotations


class BtfbuildError(Exception):
    """An error the user can act on; ``str()`` is the whole message."""


class BtfFormatError(BtfbuildError):
    """Malformed BTF: bad header, lengths past the end, truncated type records."""


class ElfError(BtfbuildError):
    """An ELF file that is unreadable or lacks a section we need."""
