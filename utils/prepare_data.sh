#!/usr/bin/env bash
# Usage: utils/prepare_data.sh CORPUS PROTOCOL [options of python -m mer.bin.prepare_corpus CORPUS]
# Stage 1 for a registered corpus, run from a recipe dir: the corpus as distributed (where the
# recipe's db.sh says) -> data/all -> data/PROTOCOL/fold<k>/{train,valid,test}. The options that
# PROTOCOL needs (MELD's resplit: --label-set 6class) are the defaults; the ones given win.
# emo.sh runs it for a recipe without local/data.sh; a local/data.sh that does more calls it.
# Finished work is kept: make_protocol rewrites nothing when data/all is unchanged.
set -euo pipefail
[ $# -ge 2 ] || { echo "Usage: $0 CORPUS PROTOCOL [prepare_corpus options]" >&2; exit 2; }
corpus=$1
protocol=$2
shift 2
# shellcheck source=../egs/TEMPLATE/emo1/db.sh
. ./db.sh  # exports each corpus's location variable, prepare_corpus's default --corpus-dir
"${MER_PYTHON}" -m mer.bin.prepare_corpus "${corpus}" --protocol "${protocol}" --out data/all "$@"
"${MER_PYTHON}" -m mer.bin.make_protocol "${corpus}" "${protocol}" data/all "data/${protocol}"
