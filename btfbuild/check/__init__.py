"""``btfbuild check``: validate BTF by the rules of the kernel's BTF verifier.

:func:`validate` returns every :class:`Problem`; an empty list means the kernel would load the
BTF. The rules and the order of the passes are described in :mod:`btfbuild.check.kernel`.
"""

from __future__ import annotations

from .kernel import Problem, validate

__all__ = ["Problem", "validate"]
