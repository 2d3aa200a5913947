#!/usr/bin/env bash
# Stage 0: Berlin EmoDB from its authors' site into $EMODB (db.sh), verified; skipped when it is there.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source-path=SCRIPTDIR/..
. ./db.sh
"${MER_PYTHON}" -m mer.bin.download_corpus emodb "${EMODB}"
