#!/usr/bin/env bash
# Usage: utils/fix_data_dir.sh [--exclude FILE] DIR
# A thin wrapper over mer/bin/fix_data_dir.py; run it with --help for the details.
set -euo pipefail
# shellcheck source=lib/python.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/python.sh"
exec "$MER_PYTHON" -m mer.bin.fix_data_dir "$@"
