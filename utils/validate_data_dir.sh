#!/usr/bin/env bash
# Usage: utils/validate_data_dir.sh [--labels LIST_OR_FILE] [--no-wav] [--no-text] [--allow-empty-text] DIR
# A thin wrapper over mer/bin/validate_data_dir.py; run it with --help for the details.
set -euo pipefail
# shellcheck source=lib/python.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/python.sh"
exec "$MER_PYTHON" -m mer.bin.validate_data_dir "$@"
