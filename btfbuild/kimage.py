"""The standalone BTF of a kernel, from whatever the user has of it.

A distro's headers package ships no vmlinux, so an out-of-tree module build has to take its
base BTF elsewhere: ``/sys/kernel/btf/vmlinux`` of the running kernel, a raw BTF file, a vmlinux
ELF (its ``.BTF``), or the boot image itself. A ``vmlinuz``/``bzImage`` holds the vmlinux ELF
compressed (gzip, xz, lzma, bzip2, zstd, lz4 or lzo) after the real-mode setup code; as the
kernel's ``scripts/extract-vmlinux`` does, each place where a compression format's magic bytes
occur is tried until one decompresses to an ELF file, whose ``.BTF`` is then read.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import BtfbuildError

ELF_MAGIC = b"\x7fELF"
BTF_MAGICS = (b"\x9f\xeb", b"\xeb\x9f")
#: vmlinux is a few hundred MB at most; a "stream" that decompresses to more is not it
MAX_IMAGE = 2 << 30


class KernelImageError(BtfbuildError):
    """No standalone BTF could be had from the file."""


def base_btf(path: Path) -> bytes:
    """Raw bytes of the standalone BTF that *path* holds: a vmlinux (its ``.BTF``), raw BTF,
    ``/sys/kernel/btf/vmlinux``, or a compressed kernel image."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
            if head == ELF_MAGIC:
                f.seek(0)
                return _elf_btf(f, str(path))
            data = head + f.read()
    except OSError as exc:
        raise KernelImageError(f"{path}: {exc.strerror or exc}") from None
    if data[:2] in BTF_MAGICS:
        if len(data) < 24:
            raise KernelImageError(f"{path}: not BTF (too short)")
        return data
    elf = decompress_image(data)
    if elf is None:
        raise KernelImageError(f"{path}: neither BTF, an ELF file, nor a compressed kernel image "
                               "holding one")
    return _elf_btf(io.BytesIO(elf), f"{path} (decompressed vmlinux)")


def _elf_btf(f: BinaryIO, label: str) -> bytes:
    """The ``.BTF`` of the ELF file open as *f*, checked to be standalone BTF."""
    from .btf.elf import read_sections_from

    secs = read_sections_from(f, label)
    if ".BTF.base" in secs:
        raise KernelImageError(f"{label}: has a .BTF.base, so its BTF is split BTF; "
                               "a base must be standalone BTF (a vmlinux)")
    data = secs.get(".BTF")
    if data is None:
        raise KernelImageError(f"{label}: no .BTF section (a kernel built without "
                               "CONFIG_DEBUG_INFO_BTF?)")
    if len(data) < 24 or data[:2] not in BTF_MAGICS:
        raise KernelImageError(f"{label}: its .BTF section is not BTF")
    return data


# -- compressed images ------------------------------------------------------------------------

Decoder = Callable[[memoryview], Iterator[bytes]]


def _stream(make: Callable[[], object]) -> Decoder:
    def run(data: memoryview) -> Iterator[bytes]:
        d = make()
        view = data
        i, step = 0, 1 << 12  # a small first step: false magic hits fail fast
        while i < len(view):
            yield d.decompress(view[i : i + step])  # type: ignore[attr-defined]
            if getattr(d, "eof", False):
                return
            i += step
            step = 1 << 20

    return run


def _external(*cmd: str) -> Decoder | None:
    import shutil
    import subprocess

    if shutil.which(cmd[0]) is None:
        return None

    def run(data: memoryview) -> Iterator[bytes]:
        proc = subprocess.run(list(cmd), input=bytes(data), capture_output=True, check=False)
        yield proc.stdout  # trailing garbage makes these tools fail after a complete stream

    return run


def _zstd() -> Decoder | None:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        return _external("zstd", "-dcq")
    return _stream(lambda: zstandard.ZstdDecompressor().decompressobj())


def _formats() -> list[tuple[bytes, Decoder | None]]:
    # imported here: a plain vmlinux or raw BTF base (every module build) needs none of them
    import bz2
    import lzma
    import zlib

    return [
        (b"\x1f\x8b\x08", _stream(lambda: zlib.decompressobj(31))),
        (b"\xfd7zXZ\x00", _stream(lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ))),
        (b"BZh", _stream(bz2.BZ2Decompressor)),
        (b"\x5d\x00\x00", _stream(lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE))),
        (b"\x28\xb5\x2f\xfd", _zstd()),
        (b"\x02\x21\x4c\x18", _external("lz4", "-dcq")),
        (b"\x89LZO", _external("lzop", "-dcq")),
    ]


def decompress_image(data: bytes) -> bytes | None:
    """The ELF file compressed inside kernel image *data*, or None."""
    missing = []
    for magic, decode in _formats():
        at = data.find(magic)
        while at >= 0:
            if decode is None:
                missing.append(magic)
                break
            elf = _try(decode, memoryview(data)[at:])
            if elf is not None:
                return elf
            at = data.find(magic, at + 1)
    if missing:
        raise KernelImageError("the image may be compressed with a format that needs "
                               "a tool not installed here (zstd, lz4 or lzop)")
    return None


def _try(decode: Decoder, data: memoryview) -> bytes | None:
    import lzma
    import zlib

    out = bytearray()
    try:
        for chunk in decode(data):
            out += chunk
            if len(out) >= 4 and out[:4] != ELF_MAGIC:
                return None  # the magic bytes were a coincidence
            if len(out) > MAX_IMAGE:
                return None
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
        pass  # a stream that ends in garbage: keep what came out before it
    return bytes(out) if out[:4] == ELF_MAGIC else None
