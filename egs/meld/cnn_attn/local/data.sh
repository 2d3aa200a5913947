#!/usr/bin/env bash
# Stage 1: MELD ($MELD, from db.sh) as distributed -> data/all -> data/<protocol>/fold<k>/{train,valid,test}
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source-path=SCRIPTDIR/..
. ./db.sh
protocol=official   # official (MELD's train/dev/test) | resplit (the paper's pooled 80/20, 6 classes)
label_set=7class    # 7class | 6class (fear dropped, listed in data/all/excluded); resplit is always 6class
text_only=false     # true: no wav.scp, only the CSVs are read
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--protocol official|resplit] [--label_set 7class|6class] [--text_only true|false]"
. utils/parse_options.sh
[ "${protocol}" = resplit ] && label_set=6class
opts=(--label-set "${label_set}")
"${text_only}" && opts+=(--text-only)
"${MER_PYTHON}" -m mer.bin.prepare_corpus meld --corpus-dir "${MELD}" --out data/all "${opts[@]}"
"${MER_PYTHON}" -m mer.bin.make_protocol meld "${protocol}" data/all "data/${protocol}"
