# shellcheck shell=bash
# Environment of a recipe: the repository's Python (MER_PYTHON, PYTHONPATH) and tools on PATH.
# shellcheck source=../../../utils/lib/python.sh
. utils/lib/python.sh
PATH="$(dirname "${MER_PYTHON}"):${MER_ROOT}/utils:${PATH}"
export PATH
export LC_ALL=C
export PYTHONIOENCODING=UTF-8
export PYTHONUNBUFFERED=1
# Bytecode caches written even where the environment says not to: without them every Python start
# compiles torch's and transformers' sources again (about 3 s on a laptop CPU, per command).
unset PYTHONDONTWRITEBYTECODE
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export HF_HUB_DISABLE_PROGRESS_BARS=1
export MPLBACKEND=Agg
