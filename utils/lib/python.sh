# shellcheck shell=bash
# Sourced by the utils/*.sh wrappers. Sets MER_ROOT (the repository), MER_PYTHON (the interpreter)
# and puts MER_ROOT on PYTHONPATH, so `"$MER_PYTHON" -m mer.bin.<tool>` works from any recipe dir,
# also through a symlinked utils/ (paths are resolved with readlink -f).
# The interpreter: $MER_PYTHON if set, else MER_ROOT/.venv/bin/python if present, else python3.

MER_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
if [ -z "${MER_PYTHON:-}" ]; then
  if [ -x "$MER_ROOT/.venv/bin/python" ]; then
    MER_PYTHON=$MER_ROOT/.venv/bin/python
  else
    MER_PYTHON=python3
  fi
fi
PYTHONPATH=$MER_ROOT${PYTHONPATH:+:$PYTHONPATH}
export MER_ROOT MER_PYTHON PYTHONPATH
