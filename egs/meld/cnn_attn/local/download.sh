#!/usr/bin/env bash
# Stage 0: MELD into $MELD (db.sh), verified: MELD.Raw with the clips (about 10.9 GB), or with
# --what csv only the annotation CSVs, all that `./run.sh --text_only true` reads.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source-path=SCRIPTDIR/..
. ./db.sh
what=full
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--what full|csv]"
. utils/parse_options.sh
"${MER_PYTHON}" -m mer.bin.download_corpus meld "${MELD}" --what "${what}"
