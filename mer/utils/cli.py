"""How a command ends on a user's mistake: one line naming the command and the problem, exit 1."""
from __future__ import annotations

import sys
from typing import Callable


def run_main(main: Callable[[], int], prog: str, errors: tuple[type[BaseException], ...] = (ValueError, OSError)):
    """sys.exit(main()), with an error of `errors` printed as `prog: error: ...` (no traceback)."""
    try:
        sys.exit(main())
    except errors as e:
        sys.exit(f"{prog}: error: {e}")
