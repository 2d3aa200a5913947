#!/usr/bin/env bash
# One linear probe (stage 4's: logistic regression on mean+std pooled frames, fit on train+valid of
# each fold) of one hidden state of a dump, scored and aggregated over the folds of a protocol.
#
#   local/probe_dump.sh [--protocol loso] DUMP_NAME HIDDEN_STATE OUT_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source=../../../../utils/lib/log.sh
. utils/lib/log.sh

protocol=loso
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--protocol loso] DUMP_NAME HIDDEN_STATE OUT_DIR"
. utils/parse_options.sh
[ $# -eq 3 ] || die --code 2 "${help_message}"
dump=$1 hidden_state=$2 out=$3

n_folds=$(find "data/${protocol}" -maxdepth 1 -name 'fold*' -type d | wc -l)
[ "${n_folds}" -gt 0 ] || die "no data/${protocol}/fold*: run ./run.sh --stage 1 --stop_stage 1 first"
log "probe: dump/${dump} hidden state ${hidden_state} -> ${out}"
"${MER_PYTHON}" -m mer.bin.combine --name linear_probe --set "dump=${dump}" --set "hidden_state=${hidden_state}" \
  --protocol-dir "data/${protocol}" --exp-root "$(dirname "${out}")" --out "${out}" --corpus emodb
"${MER_PYTHON}" -m mer.bin.score "${out}"/fold*/decode_test > /dev/null
"${MER_PYTHON}" -m mer.bin.aggregate_scores "${out}" --expected-folds "${n_folds}" > /dev/null
