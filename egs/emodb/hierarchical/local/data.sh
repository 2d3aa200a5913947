#!/usr/bin/env bash
# Stage 1: Berlin EmoDB ($EMODB, from db.sh) restricted to its four IEMOCAP-like classes (anger,
# happiness, sadness, neutral as ang hap sad neu) -> data/all -> data/<protocol>/fold<k>/{train,valid,test}
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source-path=SCRIPTDIR/..
. ./db.sh
protocol=loso        # leave one speaker out, 10 folds; the next speaker validates
label_map=4class     # ang hap sad neu; boredom, disgust and fear excluded (data/all/excluded)
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--protocol loso] [--label_map 4class]"
. utils/parse_options.sh
"${MER_PYTHON}" -m mer.bin.prepare_corpus emodb --corpus-dir "${EMODB}" --out data/all --label-map "${label_map}"
"${MER_PYTHON}" -m mer.bin.make_protocol emodb "${protocol}" data/all "data/${protocol}"
