#!/usr/bin/env bash
# Stage 1: MELD's CSVs ($MELD, from db.sh) as distributed -> data/all -> data/<protocol>/fold<k>/{train,valid,test}
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source-path=SCRIPTDIR/..
. ./db.sh
protocol=official     # train/dev/test as released
. utils/parse_options.sh
"${MER_PYTHON}" -m mer.bin.prepare_corpus meld --corpus-dir "${MELD}" --out data/all --text-only
"${MER_PYTHON}" -m mer.bin.make_protocol meld "${protocol}" data/all "data/${protocol}"
