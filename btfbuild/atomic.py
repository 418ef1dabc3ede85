"""Replacing a file atomically: the new contents go to a temporary file next to it, which is
renamed over the original only once complete.

The original is never opened for writing, so any failure before the rename (a bug of ours, a
full disk, a signal) leaves it exactly as it was, and readers see either the old file or the
new one. The temporary file gets the original's permission bits (and owner, when allowed). A
symlink is followed: its target is replaced. Being a new inode, the file loses hard links to the
old one and extended attributes, as with any tool that writes through a temporary file.
:func:`replace_file` builds the new contents from the old file; :func:`write_file` is given them
whole, and also creates a file that does not exist yet.

There is no ``fsync``: kbuild's outputs are rebuilt after a crash anyway, and flushing a
600 MB vmlinux would cost more than the whole job (the kernel's tools do not flush either).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable


def copy_range(src: int, dst: int, size: int) -> None:
    """Copy the first *size* bytes of file *src* to the same offsets of *dst*, in the kernel
    when it can (``copy_file_range``: no data through user space, reflinks on btrfs/xfs)."""
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


def write_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Make *path* hold *data*, created or replaced as a whole. A new file gets the mode fopen()
    gives one (0666 less the umask), a replaced one keeps its mode. Raises OSError; *path* is
    then as it was and the temporary file gone."""
    real = os.path.realpath(path)
    directory = os.path.dirname(real) or "."
    try:
        mode: int | None = stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp = _create_temporary(directory, os.path.basename(real), 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if mode is not None:
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _create_temporary(directory: str, base: str, mode: int) -> tuple[int, str]:
    """A new file next to *base* in *directory*, open for writing: (fd, path)."""
    for attempt in range(100):
        name = os.path.join(directory, f".{base}.btfbuild.{os.getpid()}.{attempt}")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode), name
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "no free temporary file name")


def replace_file(path: str | os.PathLike[str], build: Callable[[int, int], None]) -> None:
    """Replace *path* by what ``build(src_fd, dst_fd)`` writes into a fresh temporary file
    (*src_fd* is the original, open for reading). Raises OSError; the original is then
    untouched and the temporary file gone."""
    real = os.path.realpath(path)
    directory = os.path.dirname(real) or "."
    base = os.path.basename(real)
    src = os.open(real, os.O_RDONLY | os.O_CLOEXEC)
    tmp: str | None = None
    try:
        st = os.fstat(src)
        fd, tmp = _create_temporary(directory, base, 0o600)
        try:
            build(src, fd)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            with contextlib.suppress(PermissionError):
                os.fchown(fd, st.st_uid, st.st_gid)
        finally:
            os.close(fd)
        now = os.stat(real)
        if (now.st_ino, now.st_size, now.st_mtime_ns) != (st.st_ino, st.st_size, st.st_mtime_ns):
            raise OSError(errno.EAGAIN, "the file changed while it was being rewritten")
        os.replace(tmp, real)
        tmp = None
    finally:
        os.close(src)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
