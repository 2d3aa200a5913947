#!/usr/bin/env bash
# Stage 1: iemocap as distributed ($IEMOCAP, from db.sh) -> data/all -> data/<protocol>/fold<k>/{train,valid,test}.
# Finished work is kept: make_protocol rewrites nothing when data/all is unchanged.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source-path=SCRIPTDIR/..
. ./db.sh

protocol=loso        # loso (default, 5 folds), random (the published code's 81/9/10), si, sd
prepare_opts=""  # options of mer.data.corpora.iemocap (python -m mer.bin.prepare_corpus iemocap --help)
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--protocol P] [--prepare_opts '...']"
. utils/parse_options.sh

# shellcheck disable=SC2086  # prepare_opts is a list of options
"${MER_PYTHON}" -m mer.bin.prepare_corpus iemocap --corpus-dir "${IEMOCAP}" --out data/all ${prepare_opts}
"${MER_PYTHON}" -m mer.bin.make_protocol iemocap "${protocol}" data/all "data/${protocol}"
