"""``btfbuild-resolve-btfids``: the resolve_btfids-compatible front (reserved).

The entry point exists so that packaging and kbuild wiring can be tested; until the tool lands
it refuses clearly instead of leaving ``.BTF_ids`` unresolved in silence.
"""

from __future__ import annotations

import sys


def main() -> int:
    print("btfbuild-resolve-btfids: not available in this version of btfbuild", file=sys.stderr)
    return 1
