#!/usr/bin/env bash
# Usage: utils/subset_data_dir.sh (--utt-list F | --spk-list F | --sessions A,B | --fold-file F --folds A,B) [--complement] SRC DST
# A thin wrapper over mer/bin/subset_data_dir.py; run it with --help for the details.
set -euo pipefail
# shellcheck source=lib/python.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/python.sh"
exec "$MER_PYTHON" -m mer.bin.subset_data_dir "$@"
