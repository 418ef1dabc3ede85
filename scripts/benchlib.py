"""What the benchmark scripts share: where the cache is, how our tools are started, and the
set-up that makes a timed run of ours look like a run on an installed copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("BTFBUILD_CACHE", Path.home() / ".cache" / "btfbuild"))


def our_tool(script: str, module: str) -> list[str]:
    """The installed console script *script*, run directly: a version manager's shim in front
    of it (pyenv's is a shell script) would be timed as well."""
    path = Path(sysconfig.get_path("scripts")) / script
    if path.exists():
        return [str(path)]
    found = shutil.which(script)
    return [found] if found else [sys.executable, "-m", module]


def ensure_bytecode() -> None:
    """Byte-compile the btfbuild package, as ``pip install`` of a wheel does. An editable
    install run with PYTHONDONTWRITEBYTECODE never gets ``.pyc`` files, so every timed run
    would pay for compiling our modules, which an installed copy never does."""
    import compileall

    import btfbuild

    compileall.compile_dir(Path(btfbuild.__file__).parent, quiet=1)


def interpreter_floor(runs: int) -> float:
    """Best wall time of ``python -c pass`` with the interpreter our scripts use: start-up and
    site initialisation (``.pth`` files), which no Python tool can go below on this machine."""
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        best = min(best, time.perf_counter() - t0)
    return best
