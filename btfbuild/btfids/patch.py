"""Replacing a byte range of a file atomically (see :mod:`btfbuild.atomic`).

The kernel tool rewrites the ELF file in place through libelf; a crash or a full disk half-way
leaves a broken vmlinux. Here every check is done and the new section is complete before the
file is touched, and then one of two things happens:

* When the bytes that actually change all lie within one page of the file (a vmlinux's
  ``.BTF_ids`` is about 2 KB, a module's far less), they are written in place with a single
  ``pwrite``. Linux copies a buffered write into the page cache a page at a time with the page
  locked, so a failure or a signal can only stop such a write before or after that page, never
  inside it: the file holds either the old or the new section. This is what keeps patching a
  600 MB vmlinux at the cost of a 2 KB write, like the kernel's tool, instead of a full copy.
* Otherwise a copy receives the new bytes at the section's offset and is renamed over the
  original (:func:`btfbuild.atomic.replace_file`).

Either way the file changes in the patched bytes only.
"""

from __future__ import annotations

import errno
import os

from ..atomic import copy_range, replace_file
from .errors import BtfIdsError

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def changed_span(old: bytes, new: bytes) -> tuple[int, int] | None:
    """[first, last] index of the bytes where *old* and *new* (same length) differ, or None."""
    if old == new:
        return None
    first = next(i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b)
    last = len(new) - 1 - next(i for i, (a, b) in enumerate(zip(reversed(old), reversed(new),
                                                                   strict=True)) if a != b)
    return first, last


def replace_range(path: str, fd: int, offset: int, data: bytes, old: bytes | None = None) -> None:
    """Make *path* (open as *fd*) hold *data* at *offset*, atomically. *old*, the bytes there
    now, allows the in-place write of a change that fits in one page; *fd* must then be open
    for writing."""
    size = os.fstat(fd).st_size
    if offset + len(data) > size:
        raise BtfIdsError(f"FAILED cannot write {path}: range {offset}+{len(data)} is past the end "
                          f"of the file ({size} bytes)")
    try:
        if old is not None and len(old) == len(data):
            span = changed_span(old, data)
            if span is None:
                return
            first, last = span
            if (offset + first) // PAGE_SIZE == (offset + last) // PAGE_SIZE:
                chunk = data[first : last + 1]
                if os.pwrite(fd, chunk, offset + first) != len(chunk):
                    raise OSError(errno.EIO, "short write")
                return

        def build(src: int, dst: int) -> None:
            copy_range(src, dst, size)
            if os.pwrite(dst, data, offset) != len(data):
                raise OSError(errno.EIO, "short write")

        replace_file(path, build)
    except OSError as exc:
        raise BtfIdsError(f"FAILED cannot write {path}: {exc.strerror or exc}") from None
