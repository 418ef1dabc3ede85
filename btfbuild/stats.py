"""``btfbuild stats``: types per kind, string and section sizes."""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass

from rich.console import Console
from rich.table import Table

from .btf import Btf, encode
from .btf.types import Composite, Datasec, Enum, Enum64, FuncProto, Kind, Unknown


@dataclass(frozen=True, slots=True)
class BtfStats:
    types: int
    kinds: dict[str, int]
    members: int  # struct/union members, enum values, parameters, datasec entries
    string_bytes: int
    type_bytes: int
    total_bytes: int
    base_types: int  # types of the base, for split BTF (0 otherwise)


def compute(btf: Btf) -> BtfStats:
    kinds: Counter[str] = Counter()
    members = 0
    for _, t in btf:
        kinds[Kind(t.raw_kind).name if isinstance(t, Unknown) and t.raw_kind <= 19
              else t.kind.name] += 1
        if isinstance(t, Composite):
            members += len(t.members)
        elif isinstance(t, Enum | Enum64):
            members += len(t.values)
        elif isinstance(t, FuncProto):
            members += len(t.params)
        elif isinstance(t, Datasec):
            members += len(t.vars)
    raw = encode(btf)
    strings = len(btf.strings)
    header = 24
    ordered = {k.name: kinds[k.name] for k in Kind if kinds.get(k.name)}
    return BtfStats(
        types=len(btf),
        kinds=ordered,
        members=members,
        string_bytes=strings,
        type_bytes=len(raw) - header - strings,
        total_bytes=len(raw),
        base_types=btf.start_id - 1 if btf.base is not None else 0,
    )


def print_stats(btf: Btf, label: str, *, as_json: bool = False) -> None:
    st = compute(btf)
    if as_json:
        json.dump(asdict(st), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    console = Console()
    console.print(f"{label}: {st.types} types" +
                  (f" (split over {st.base_types} base types)" if st.base_types else ""))
    table = Table()
    table.add_column("kind")
    table.add_column("count", justify="right")
    for kind, n in st.kinds.items():
        table.add_row(kind, str(n))
    console.print(table)
    console.print(f"members/values/params/vars: {st.members}")
    console.print(f"type section: {st.type_bytes} bytes, string section: {st.string_bytes} bytes, "
                  f"total: {st.total_bytes} bytes")
