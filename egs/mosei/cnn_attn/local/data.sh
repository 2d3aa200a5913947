#!/usr/bin/env bash
# Stage 1: CMU-MOSEI ($MOSEI, from db.sh) as distributed -> data/all -> data/<protocol>/fold<k>/{train,valid,test}
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source-path=SCRIPTDIR/..
. ./db.sh
# shellcheck source=../../../../utils/lib/log.sh
. utils/lib/log.sh
protocol=official   # official (SDK standard folds, arg-max) | resplit (the paper's (segment, emotion) samples)
folds=              # standard folds file; default: mosei_folds.json or cmu_mosei_std_folds.py under $MOSEI
text_only=false     # true: no wav.scp/segments
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--protocol official|resplit] [--folds FILE] [--text_only true|false]"
. utils/parse_options.sh
[ -n "${MOSEI}" ] || die --code 2 "MOSEI is not set (db.sh or the environment): the CMU_MOSEI folder"
if [ -z "${folds}" ]; then
  folds=$(find -L "${MOSEI}" -maxdepth 4 \( -name mosei_folds.json -o -name cmu_mosei_std_folds.py \) \
            2>/dev/null | sort | head -n 1)
  [ -n "${folds}" ] || folds=$(find -L "${MOSEI}/.." -maxdepth 1 \( -name mosei_folds.json -o \
                                 -name cmu_mosei_std_folds.py \) 2>/dev/null | sort | head -n 1)
fi
opts=()
case "${protocol}" in
  official)
    [ -n "${folds}" ] || die --code 2 "protocol official needs the SDK's standard folds: --folds FILE" \
      "(JSON or cmu_mosei_std_folds.py; see mer/data/corpora/mosei_folds.py)"
    opts+=(--folds "${folds}") ;;
  resplit)  # every (segment, emotion > 0) pair is a sample; the folds only fill utt2split
    opts+=(--samples emotion)
    [ -n "${folds}" ] && opts+=(--folds "${folds}") ;;
  *) die --code 2 "unknown protocol '${protocol}' (official | resplit)" ;;
esac
"${text_only}" && opts+=(--text-only)
"${MER_PYTHON}" -m mer.bin.prepare_corpus mosei --corpus-dir "${MOSEI}" --out data/all "${opts[@]}"
"${MER_PYTHON}" -m mer.bin.make_protocol mosei "${protocol}" data/all "data/${protocol}"
