"""A warm interpreter for a recipe's many short Python commands (server.py, client.py).

A recipe starts dozens of `python -m mer.bin.<tool>` processes; most of each one's start is importing
torch, transformers and scikit-learn (3-5 s on a laptop CPU). While emo.sh runs, a server holds those
imports and forks a child per command; the client passes the command's arguments, working directory,
environment and standard streams, and exits with the child's status. Nothing else changes: every
command is still its own process with its own exit status and log.
"""

import os
import sys


def command_python() -> str:
    """The interpreter for a command's own `python -m mer.bin.<tool>` jobs: the recipe's MER_PYTHON
    (the warm one while emo.sh runs), else this interpreter."""
    return os.environ.get("MER_PYTHON") or sys.executable
