"""btfbuild: the kernel's BTF toolchain as a Python package with a native core."""

from __future__ import annotations

__version__ = "0.1.0"
