"""``btfbuild-pahole``: the pahole-compatible front of the DWARF encoder (reserved).

The entry point exists so that packaging and kbuild wiring can be tested; the encoder lands with
the native core. Until then it refuses clearly instead of pretending to be pahole.
"""

from __future__ import annotations

import sys


def main() -> int:
    print("btfbuild-pahole: the DWARF-to-BTF encoder is not available in this version of "
          "btfbuild", file=sys.stderr)
    return 1
