#!/usr/bin/env bash
# Usage: utils/split_data.sh [--per-utt] DIR N
# A thin wrapper over mer/bin/split_data.py; run it with --help for the details.
set -euo pipefail
# shellcheck source=lib/python.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/python.sh"
exec "$MER_PYTHON" -m mer.bin.split_data "$@"
