#!/usr/bin/env bash
# Stage 1: IEMOCAP ($IEMOCAP, from db.sh), 4 classes (hap and exc merged) -> data/all ->
# data/<protocol>/fold1/{train,valid,test}. The paper's two settings: si (sessions 1-4 train;
# session 5 male = valid, female = test) and sd (random 80/10/10, speaker-dependent).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source-path=SCRIPTDIR/..
. ./db.sh
protocol=si          # si (default) or sd
prepare_opts=""      # options of mer.data.corpora.iemocap (python -m mer.bin.prepare_corpus iemocap --help)
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--protocol si|sd] [--prepare_opts '...']"
. utils/parse_options.sh
# shellcheck disable=SC2086  # prepare_opts is a list of options
"${MER_PYTHON}" -m mer.bin.prepare_corpus iemocap --corpus-dir "${IEMOCAP}" --out data/all ${prepare_opts}
"${MER_PYTHON}" -m mer.bin.make_protocol iemocap "${protocol}" data/all "data/${protocol}"
