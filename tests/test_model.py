"""The BTF model: reading, writing, split BTF, both byte orders, bad input."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from btfbuild.btf import Btf, Kind, encode, load, parse
from btfbuild.btf.elf import read_btf_sections
from btfbuild.btf.types import (
    Enum,
    Enum64,
    EnumValue,
    FuncProto,
    Int,
    IntEncoding,
    Ptr,
    Struct,
    Typedef,
    Union,
)
from btfbuild.errors import BtfbuildError, BtfFormatError, ElfError
from tests.btfgen import every_kind
from tests.conftest import MODULES


def test_every_kind_round_trips_both_byte_orders() -> None:
    b = every_kind()
    kinds = {t.kind for _, t in b}
    assert kinds == set(Kind) - {Kind.UNKN}
    for endian in ("little", "big"):
        data = encode(b, endian)
        again = parse(data)
        assert again.endian == endian
        assert again.types == b.types
        assert encode(again) == data
    assert encode(b, "big") != encode(b, "little")


def _records(t: object) -> list[object]:
    for attr in ("members", "params", "values"):
        if hasattr(t, attr):
            records: list[object] = getattr(t, attr)
            return records
    return []


def test_records_read_as_words() -> None:
    """Members, parameters and enumerators read from raw BTF stay words until asked for, in
    either byte order; then the objects are what counts: changing them changes what is
    written, and so does assigning new ones."""
    b = every_kind()
    for endian in ("little", "big"):
        data = encode(b, endian)
        again = parse(data)
        with_records = [t for _, t in again if isinstance(t, Struct | Union | Enum | Enum64 |
                                                           FuncProto)]
        assert [t.vlen for t in with_records] == [len(_records(t)) for t in with_records]
        assert again.types == b.types
        assert encode(again) == data

        packet_id = again.find("packet", Kind.STRUCT)
        wide_id = again.find("wide", Kind.ENUM64)
        assert packet_id is not None and wide_id is not None
        packet = again.type(packet_id)
        wide = again.type(wide_id)
        assert isinstance(packet, Struct) and isinstance(wide, Enum64)
        assert [(m.bit_offset, m.bitfield_size) for m in packet.members[1:3]] == [(32, 3), (35, 5)]
        packet.members[0].name_off = again.add_str("length")
        wide.values = [EnumValue(again.add_str("ONE"), 1)]
        assert wide.vlen == 1
        changed = parse(encode(again))
        changed_packet = changed.type(packet_id)
        assert changed_packet == packet and isinstance(changed_packet, Struct)
        assert changed.str(changed_packet.members[0].name_off) == "length"
        assert changed.type(wide_id) == wide


def test_first_records_asked_for_build_the_whole_reading() -> None:
    """Asking one type of a reading for its records builds those of all at once; they then
    stay the same objects, and writing them gives the bytes read."""
    data = encode(every_kind())
    btf = parse(data)
    plain = btf.type(btf.find("plain", Kind.STRUCT) or 0)
    assert isinstance(plain, Struct)
    assert plain.words() is plain.words()  # the words as read
    protos = [t for _, t in btf if isinstance(t, FuncProto)]
    first = protos[0].params
    assert plain.words() is not plain.words()  # encoded from its members: built too
    assert protos[0].params is first
    assert [[p.type_id for p in t.params] for t in protos][1:] == [[]]
    assert encode(btf) == data


def test_unified_view_of_split_btf() -> None:
    base = every_kind()
    split = Btf(base)
    assert split.start_id == base.type_count
    i32 = base.find("int", Kind.INT)
    assert i32 is not None
    ptr = split.add(Ptr(0, i32))
    td = split.add(Typedef(split.add_str("int_ptr"), ptr))
    assert ptr == base.type_count
    # a name already in the base resolves to the base's offset; a new one lands after it
    assert split.add_str("int") == base.strings.find("int")
    assert split.strings.find("int_ptr") == base.strings.end
    data = encode(split)
    again = parse(data, base)
    assert again.name(td) == "int_ptr"
    assert again.type(ptr) == Ptr(0, i32)
    assert again.type(i32) == base.type(i32)
    assert again.resolve_size(td) == 8
    with pytest.raises(KeyError):
        again.type(again.type_count)


def test_strings_add_deduplicates() -> None:
    b = Btf()
    off = b.add_str("foo")
    assert b.add_str("foo") == off
    assert b.add_str("") == 0
    assert b.str(off) == "foo"


def _header(data: bytes) -> list[int]:
    return list(struct.unpack_from("<HBBIIIII", data))


def _with_header(data: bytes, **changes: int) -> bytes:
    fields = ["magic", "version", "flags", "hdr_len", "type_off", "type_len", "str_off", "str_len"]
    h = dict(zip(fields, _header(data), strict=True))
    h.update(changes)
    return struct.pack("<HBBIIIII", *h.values()) + data[24:]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:10], "truncated header"),
        (lambda d: b"\x00\x00" + d[2:], "bad magic"),
        (lambda d: _with_header(d, version=2), "unsupported BTF version"),
        (lambda d: _with_header(d, type_len=10**6), "type section"),
        (lambda d: _with_header(d, str_len=10**6), "string section"),
        (lambda d: _with_header(d, hdr_len=3), "bad header length"),
        (lambda d: d[: len(d) - 300], "past the end"),
    ],
)
def test_bad_raw_input_is_a_format_error(mutate, message) -> None:  # type: ignore[no-untyped-def]
    data = encode(every_kind())
    with pytest.raises(BtfFormatError, match=message):
        parse(mutate(data))


def test_load_rejects_out_of_range_names_and_ids(tmp_path: Path) -> None:
    b = Btf()
    i = b.add(Int(b.add_str("int"), 4, IntEncoding.SIGNED, 0, 32))
    b.add(Ptr(0, i + 5))
    f = tmp_path / "badid.btf"
    f.write_bytes(encode(b))
    with pytest.raises(BtfFormatError, match=r"\[2\] PTR: invalid type id 6"):
        load(f)
    b.types[1] = Struct(9999, 0, [])
    f.write_bytes(encode(b))
    with pytest.raises(BtfFormatError, match=r"\[2\] STRUCT: invalid name offset 9999"):
        load(f)
    # the validator loads without these checks, to report every problem itself
    assert len(load(f, sanity=False)) == 2


def test_elf_without_btf(tmp_path: Path) -> None:
    with pytest.raises(ElfError, match=r"no \.BTF section"):
        load("/bin/sh")
    f = tmp_path / "trunc.elf"
    f.write_bytes(Path("/bin/sh").read_bytes()[:100])
    with pytest.raises(BtfbuildError, match=r"trunc\.elf"):
        load(f)


def test_sysfs_vmlinux_round_trips(sysfs_vmlinux: Path) -> None:
    data = sysfs_vmlinux.read_bytes()
    btf = load(sysfs_vmlinux)
    assert len(btf) > 10_000
    assert encode(btf) == data


@pytest.mark.realkernel
def test_debian_vmlinux_and_modules_round_trip(linux61: Path) -> None:
    vmlinux = load(linux61 / "vmlinux")
    assert encode(vmlinux) == read_btf_sections(linux61 / "vmlinux").btf
    sk_buff = vmlinux.find("sk_buff", Kind.STRUCT)
    assert sk_buff is not None and vmlinux.resolve_size(sk_buff) == 232
    for name in MODULES:
        ko = linux61 / "modules" / f"{name}.ko"
        mod = load(ko, vmlinux)
        assert mod.start_id == vmlinux.type_count
        assert len(mod) > 10
        assert encode(mod) == read_btf_sections(ko).btf
        # the unified view reaches base types through the split one
        assert mod.type(sk_buff) is vmlinux.type(sk_buff)
