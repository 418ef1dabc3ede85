"""Replacing a byte range of a file atomically (see :mod:`btfbuild.atomic`).

The kernel tool rewrites the ELF file in place through libelf; a crash or a full disk half-way
leaves a broken vmlinux. Here a copy receives the new bytes at the section's offset and is renamed
over the original; the file changes in the patched bytes only.
"""

from __future__ import annotations

import errno
import os

from ..atomic import copy_range, replace_file
from .errors import BtfIdsError


def replace_range(path: str, src_fd: int, offset: int, data: bytes) -> None:
    """Make *path* (open as *src_fd*) hold *data* at *offset*, atomically."""
    size = os.fstat(src_fd).st_size
    if offset + len(data) > size:
        raise BtfIdsError(f"FAILED cannot write {path}: range {offset}+{len(data)} is past the end "
                          f"of the file ({size} bytes)")

    def build(src: int, dst: int) -> None:
        copy_range(src, dst, size)
        if os.pwrite(dst, data, offset) != len(data):
            raise OSError(errno.EIO, "short write")

    try:
        replace_file(path, build)
    except OSError as exc:
        raise BtfIdsError(f"FAILED cannot write {path}: {exc.strerror or exc}") from None
