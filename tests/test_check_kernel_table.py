"""The kernel's BTF selftest table as our test.

``data/kernel_raw_tests.json`` is ``raw_tests[]`` of Linux 6.12's
tools/testing/selftests/bpf/prog_tests/btf.c, converted by ``data/gen_raw_tests.py``: raw type
records, a string section, header tweaks and whether ``BPF_BTF_LOAD`` must refuse the BTF. Each
case is assembled as the selftest's ``btf_raw_create`` does, read with the raw reader and
validated; the decision must be the kernel's. A ``BtfFormatError`` from the reader counts as a
refusal. Where the kernel names its reason (``err_str``) and validation ran, one of our problems
must carry the same text.

Only the BTF load decision is compared: the map fields of the table (map type, key and value
ids, ``map_create_err``) are about creating a map on top of the BTF and were dropped.

Excluded cases: none. All 174 cases are pure format cases for the load decision.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from btfbuild.btf import parse
from btfbuild.check import validate
from btfbuild.errors import BtfFormatError

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "kernel_raw_tests.json").read_text())

# The table is 6.12's: validate by its rule on tag kind_flag (allowed by default, as in 6.14+).
TAG_KFLAG_612 = False


def build_raw(case: dict[str, Any]) -> bytes:
    """``btf_raw_create`` followed by the header tweaks of ``do_test_raw``."""
    words: list[int] = case["types"]
    text: str = case["strings"]
    types = struct.pack(f"<{len(words)}I", *words)
    strings = text.encode("latin-1")
    header = struct.pack(
        "<HBBIIIII", 0xEB9F, 1, 0,
        24 + case["hdr_len_delta"],
        0 + case["type_off_delta"],
        len(types),
        len(types) + case["str_off_delta"],
        len(strings) + case["str_len_delta"],
    )
    return header + types + strings


def test_table_is_complete() -> None:
    assert len(CASES) == 174
    assert sum(c["expect_reject"] for c in CASES) == 117


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_same_decision_as_the_kernel(case: dict[str, Any]) -> None:
    data = build_raw(case)
    try:
        btf = parse(data)
    except BtfFormatError as exc:
        assert case["expect_reject"], f"the reader refuses BTF the kernel loads: {exc}"
        return
    problems = [str(p) for p in validate(btf, tag_kflag=TAG_KFLAG_612)]
    if not case["expect_reject"]:
        assert problems == []
        return
    assert problems, f"the kernel refuses this ({case['err_str']}); we found nothing"
    if case["err_str"]:
        assert any(case["err_str"] in p for p in problems), (case["err_str"], problems)


def test_decl_tag_kind_flag_is_allowed_by_newer_kernels() -> None:
    (case,) = [c for c in CASES if c["name"] == "decl_tag test #8, invalid kflag"]
    btf = parse(build_raw(case))
    problems = validate(btf, tag_kflag=TAG_KFLAG_612)
    assert [p.reason for p in problems] == ["Invalid btf_info kind_flag"]
    assert validate(btf) == []
