"""Replacing a byte range of a file atomically: copy, patch the copy, fsync, rename over.

The kernel tool rewrites the ELF file in place through libelf; a crash or a full disk half-way
leaves a broken vmlinux. Here the original is never opened for writing: a temporary file next to
it (same directory, so the rename is atomic) receives a kernel-side copy (``copy_file_range``),
then the new bytes at the section's offset, then the original's permission bits (and owner,
when allowed), ``fsync``, and finally replaces the original with ``rename``. On any failure the
temporary file is removed and the original is exactly as it was.

The file changes in the patched bytes only; being a new inode, it loses hard links to the old
one and any extended attributes. A symlink is followed: its target is replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from .errors import BtfIdsError


def _copy(src: int, dst: int, size: int) -> None:
    off = 0
    try:
        while off < size:
            n = os.copy_file_range(src, dst, size - off, off, off)
            if n == 0:
                break
            off += n
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while off < size:  # no copy_file_range here: plain reads and writes
        chunk = os.pread(src, min(1 << 20, size - off), off)
        if not chunk:
            break
        os.pwrite(dst, chunk, off)
        off += len(chunk)
    if off != size:
        raise OSError(errno.EIO, f"short copy ({off} of {size} bytes)")


def replace_range(path: str, src_fd: int, offset: int, data: bytes) -> None:
    """Make *path* (open as *src_fd*) hold *data* at *offset*, atomically."""
    real = os.path.realpath(path)
    directory = os.path.dirname(real) or "."
    st = os.fstat(src_fd)
    if offset + len(data) > st.st_size:
        raise BtfIdsError(f"FAILED cannot write {path}: range {offset}+{len(data)} is past the end "
                          f"of the file ({st.st_size} bytes)")
    tmp: str | None = None
    try:
        fd = -1
        for attempt in range(100):
            name = os.path.join(directory,
                                f".{os.path.basename(real)}.btfids.{os.getpid()}.{attempt}")
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                continue
            tmp = name
            break
        if tmp is None:
            raise OSError(errno.EEXIST, "no free temporary file name")
        try:
            _copy(src_fd, fd, st.st_size)
            if os.pwrite(fd, data, offset) != len(data):
                raise OSError(errno.EIO, "short write")
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            with contextlib.suppress(PermissionError):
                os.fchown(fd, st.st_uid, st.st_gid)
            os.fsync(fd)
        finally:
            os.close(fd)
        now = os.stat(real)
        if (now.st_ino, now.st_size, now.st_mtime_ns) != (st.st_ino, st.st_size, st.st_mtime_ns):
            raise OSError(errno.EAGAIN, "the file changed while it was being patched")
        os.replace(tmp, real)
        tmp = None
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise BtfIdsError(f"FAILED cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
