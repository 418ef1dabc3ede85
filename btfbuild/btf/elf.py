"""BTF in ELF files: the ``.BTF`` and ``.BTF.base`` sections of vmlinux, modules and objects.

Sections are read from the file by their header, never through ``objcopy -O binary``, which
returns nothing for a module's non-ALLOC ``.BTF``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..errors import ElfError

ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True, slots=True)
class BtfSections:
    btf: bytes | None
    base: bytes | None  # .BTF.base: the distilled base of a module
    little_endian: bool


def is_elf(data: bytes) -> bool:
    return data[:4] == ELF_MAGIC


def read_sections(path: Path, names: tuple[str, ...] = (".BTF", ".BTF.base")) -> dict[str, bytes]:
    """The contents of the named sections that exist in the ELF file *path*."""
    try:
        with path.open("rb") as f:
            elf = ELFFile(f)
            found: dict[str, bytes] = {}
            for sec in elf.iter_sections():
                if sec.name in names and sec["sh_type"] != "SHT_NOBITS":
                    off, size = sec["sh_offset"], sec["sh_size"]
                    f.seek(off)
                    data = f.read(size)
                    if len(data) != size:
                        raise ElfError(f"{path}: section {sec.name} runs past the end of the file")
                    found[sec.name] = data
            return found
    except ELFError as exc:
        raise ElfError(f"{path}: not a valid ELF file: {exc}") from None
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ElfError(f"{path}: cannot read ELF: {exc}") from None


def read_btf_sections(path: Path) -> BtfSections:
    with path.open("rb") as f:
        ident = f.read(6)
    found = read_sections(path)
    return BtfSections(found.get(".BTF"), found.get(".BTF.base"), ident[5:6] != b"\x02")
