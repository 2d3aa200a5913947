#!/usr/bin/env bash
# Stage 1: esd as distributed ($ESD, from db.sh) -> data/all -> data/<protocol>/fold<k>/{train,valid,test}.
# Finished work is kept: make_protocol rewrites nothing when data/all is unchanged.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source-path=SCRIPTDIR/..
. ./db.sh

protocol=lo2so        # lo2so (default, 5 folds of 2 speakers), published (MemoCMT code), official
prepare_opts=""  # options of mer.data.corpora.esd (python -m mer.bin.prepare_corpus esd --help)
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--protocol P] [--prepare_opts '...']"
. utils/parse_options.sh

# shellcheck disable=SC2086  # prepare_opts is a list of options
"${MER_PYTHON}" -m mer.bin.prepare_corpus esd --corpus-dir "${ESD}" --out data/all ${prepare_opts}
"${MER_PYTHON}" -m mer.bin.make_protocol esd "${protocol}" data/all "data/${protocol}"
