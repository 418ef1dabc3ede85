"""The kernel's name rules (``btf_name_valid_identifier``, ``btf_name_valid_section``).

Characters are classified with the kernel's own ``_ctype`` table (lib/ctype.c), which is Latin-1
rather than ASCII: bytes 0xC0-0xFF other than 0xD7 and 0xF7 are letters, 0xA0-0xFF printable.
A name is at most ``KSYM_NAME_LEN`` (512) bytes.
"""

from __future__ import annotations

import re

KSYM_NAME_LEN = 512

_LATIN1_ALPHA = rb"A-Za-z\xc0-\xd6\xd8-\xf6\xf8-\xff"
_IDENT_BYTES = re.compile(rb"[" + _LATIN1_ALPHA + rb"_.][" + _LATIN1_ALPHA + rb"0-9_.]*\Z")
_SECTION_BYTES = re.compile(rb"[\x20-\x7e\xa0-\xff]+\Z")
_IDENT_ASCII = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*\Z")
_SECTION_ASCII = re.compile(r"[\x20-\x7e]+\Z")


def valid_identifier(name: bytes) -> bool:
    """``btf_name_valid_identifier``: a C-like identifier that may also contain dots."""
    return len(name) <= KSYM_NAME_LEN and _IDENT_BYTES.match(name) is not None


def valid_section(name: bytes) -> bool:
    """``btf_name_valid_section``: any non-empty run of printable characters."""
    return len(name) <= KSYM_NAME_LEN and _SECTION_BYTES.match(name) is not None


def valid_identifier_str(name: str) -> bool | None:
    """Fast path on an already decoded ASCII name; None when the bytes must decide."""
    if not name.isascii():
        return None
    return len(name) <= KSYM_NAME_LEN and _IDENT_ASCII.match(name) is not None


def valid_section_str(name: str) -> bool | None:
    if not name.isascii():
        return None
    return len(name) <= KSYM_NAME_LEN and _SECTION_ASCII.match(name) is not None
