"""Errors and the message sink shared by the resolve_btfids modules."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import BtfbuildError

# log(level, message): level 0 is always shown (warnings), 1 with -v, 2 with -vv
Log = Callable[[int, str], None]


class BtfIdsError(BtfbuildError):
    """A failure of resolve_btfids; ``str()`` is the one-line message the kernel tool would print
    (``FAILED ...``), sometimes with the reason appended."""


def quiet(level: int, msg: str) -> None:
    """A :data:`Log` that drops everything."""
