"""``python -m btfbuild`` is the ``btfbuild`` command."""

import sys

from .cli import main

sys.exit(main())
