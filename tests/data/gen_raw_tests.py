#!/usr/bin/env python3
"""Turn the kernel selftest table ``raw_tests[]`` into ``kernel_raw_tests.json``.

The table (tools/testing/selftests/bpf/prog_tests/btf.c) lists raw BTF type records, a string
section and whether ``BPF_BTF_LOAD`` must reject them. Rather than re-implement the C
preprocessor, this script cuts the table and the declarations it needs out of a kernel source
tree, compiles them with a tiny dumper around them in a temporary directory, and runs it. The
kernel source is only read here; what is kept is the JSON below (one object per case):

* ``name``: the case's ``descr``;
* ``types``: the type section as u32 words, with ``NAME_TBD``/``NAME_NTH`` already replaced by
  string offsets exactly as the selftest's ``btf_raw_create`` does;
* ``strings``: the string section (``str_sec_size`` bytes) as a latin-1 string;
* ``hdr_len_delta``, ``type_off_delta``, ``str_off_delta``, ``str_len_delta``: header tweaks;
* ``expect_reject``: ``btf_load_err``; ``err_str``: the kernel's expected log text, or null.

Map fields (map type, key/value ids, ``map_create_err``) are about map creation and dropped.

Usage: ``python tests/data/gen_raw_tests.py [KERNEL_SOURCE_DIR]`` (default:
``~/.cache/btfbuild/linux-source-6.12``); writes ``kernel_raw_tests.json`` next to this script.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

BTF_END_RAW = 0xDEADBEEF
NAME_TBD = 0xDEADB33F

_DUMPER = r"""
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include "test_btf.h"

#define NAME_TBD 0xdeadb33f
#define NAME_NTH(N) (0xfffe0000 | N)
#define MAX_NR_RAW_U32 1024
#define BTF_STR_SEC(str) .str_sec = str, .str_sec_size = sizeof(str)

@DECLS@

@TABLE@

static void put_str(const char *s, unsigned int n)
{
    unsigned int i;

    putchar('"');
    for (i = 0; i < n; i++)
        printf("\\u%04x", (unsigned char)s[i]);
    putchar('"');
}

int main(void)
{
    unsigned int t, i, n = sizeof(raw_tests) / sizeof(raw_tests[0]);

    printf("[\n");
    for (t = 0; t < n; t++) {
        const struct btf_raw_test *r = &raw_tests[t];
        int last = -1;

        for (i = 0; i < MAX_NR_RAW_U32; i++)
            if (r->raw_types[i] == 0xdeadbeef)
                last = i;
        printf("{\"name\": ");
        put_str(r->descr, strlen(r->descr));
        printf(", \"raw\": [");
        for (i = 0; (int)i < last; i++)
            printf("%s%u", i ? ", " : "", r->raw_types[i]);
        printf("], \"strings\": ");
        if (r->str_sec)
            put_str(r->str_sec, r->str_sec_size);
        else
            printf("\"\"");
        printf(", \"expect_reject\": %s", r->btf_load_err ? "true" : "false");
        printf(", \"err_str\": ");
        if (r->err_str)
            put_str(r->err_str, strlen(r->err_str));
        else
            printf("null");
        printf(", \"hdr_len_delta\": %d, \"type_off_delta\": %d", r->hdr_len_delta,
               r->type_off_delta);
        printf(", \"str_off_delta\": %d, \"str_len_delta\": %d}%s\n", r->str_off_delta,
               r->str_len_delta, t + 1 < n ? "," : "");
    }
    printf("]\n");
    return 0;
}
"""


def _cut(text: str, start: str, end: str) -> str:
    i = text.index(start)
    j = text.index(end, i)
    return text[i : j + len(end)]


def _string_starts(strings: bytes) -> list[int]:
    """Offsets ``btf_raw_create`` numbers as strings 1, 2, ...: every byte after a NUL."""
    starts = []
    pos = 0
    end = len(strings)
    while pos < end - 1:
        pos += 1
        starts.append(pos)
        nul = strings.find(b"\0", pos)
        pos = nul if nul >= 0 else end
    return starts


def _resolve_names(name: str, raw: list[int], strings: bytes) -> list[int]:
    starts = _string_starts(strings)
    out = []
    next_idx = 0
    for w in raw:
        if w == NAME_TBD:
            if next_idx >= len(starts):
                raise SystemExit(f"{name}: NAME_TBD #{next_idx} has no string")
            out.append(starts[next_idx])
            next_idx += 1
        elif w & 0xFFFF0000 == 0xFFFE0000:
            idx = w & 0xFFFF
            if not 0 < idx <= len(starts):
                raise SystemExit(f"{name}: NAME_NTH({idx}) out of range")
            out.append(starts[idx - 1])
        else:
            out.append(w)
    return out


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1
               else Path.home() / ".cache/btfbuild/linux-source-6.12")
    selftests = src / "tools/testing/selftests/bpf"
    text = (selftests / "prog_tests/btf.c").read_text()
    decls = "\n".join((
        _cut(text, "enum pprint_mapv_kind_t {", "};"),
        _cut(text, "struct btf_raw_test {", "};"),
    ))
    table = _cut(text, "static struct btf_raw_test raw_tests[] = {",
                 "}; /* struct btf_raw_test raw_tests[] */")
    with tempfile.TemporaryDirectory() as tmp:
        c = Path(tmp) / "dump.c"
        c.write_text(_DUMPER.replace("@DECLS@", decls).replace("@TABLE@", table))
        exe = Path(tmp) / "dump"
        subprocess.run(["cc", "-w", "-o", str(exe), str(c), f"-I{selftests}",
                        f"-I{src / 'tools/include/uapi'}"], check=True)
        out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    cases = []
    for case in json.loads(out):
        strings = case.pop("strings").encode("latin-1")
        raw = case.pop("raw")
        cases.append({
            "name": case["name"],
            "types": _resolve_names(case["name"], raw, strings),
            "strings": strings.decode("latin-1"),
            "expect_reject": case["expect_reject"],
            "err_str": case["err_str"],
            **{k: case[k] for k in ("hdr_len_delta", "type_off_delta", "str_off_delta",
                                    "str_len_delta")},
        })
    dest = Path(__file__).with_name("kernel_raw_tests.json")
    body = ",\n".join("  " + json.dumps(c) for c in cases)
    dest.write_text("[\n" + body + "\n]\n")
    print(f"{dest}: {len(cases)} cases")


if __name__ == "__main__":
    main()
