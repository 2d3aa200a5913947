#!/usr/bin/env bash
# Stage 0: MELD.Raw (CSVs and video clips, about 10.9 GB) into $MELD (db.sh), verified.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source-path=SCRIPTDIR/..
. ./db.sh
"${MER_PYTHON}" -m mer.bin.download_corpus meld "${MELD}" --what full
