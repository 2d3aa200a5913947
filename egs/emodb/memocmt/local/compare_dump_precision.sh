#!/usr/bin/env bash
# What storing a dump in less than float32 costs: Whisper tiny.en on EmoDB, hidden states 2 and 3
# only (a layer subset), 10 s window, dumped once per storage (float32, float16, Kaldi's 2-byte
# compression), each hidden state probed (local/probe_dump.sh: stage 4's linear probe, LOSO). Table:
# ${expdir}/RESULTS.md (not RESULTS.md); dump sizes printed at the end. Needs stage 1 (data/);
# dumps (dump/precision_TAG) are reused when present.
#
#   local/compare_dump_precision.sh [--nj 2] [--expdir exp/precision] [--hidden_states "2 3"]
#       [--storages "f32:--dtype=float32 f16:--dtype=float16 cm2:--compress=3"]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source=../../../../utils/lib/log.sh
. utils/lib/log.sh

nj=2                      # dump jobs
expdir=exp/precision      # probes and the comparison table
hidden_states="2 3"       # dumped (as --layers 2,3) and probed one by one
storages="f32:--dtype=float32 f16:--dtype=float16 cm2:--compress=3"  # TAG:DUMP_OPTION ...
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--nj N] [--expdir DIR] [--hidden_states \"2 3\"] [--storages \"TAG:OPTION ...\"]"
. utils/parse_options.sh

for spec in ${storages}; do
  IFS=: read -r tag option <<< "${spec}"
  log "dumping Whisper tiny.en hidden states ${hidden_states} (${option}) to dump/precision_${tag}"
  "${MER_PYTHON}" -m mer.bin.dump_feats --config conf/feats.yaml --name whisper --whisper-input-seconds 10 \
    --layers "${hidden_states// /,}" "${option}" --nj "${nj}" data/all "dump/precision_${tag}"
  for k in ${hidden_states}; do
    local/probe_dump.sh "precision_${tag}" "${k}" "${expdir}/loso/probe_${tag}_h${k}"
  done
done
"${MER_PYTHON}" -m mer.bin.make_results . --exp "${expdir}" --out "${expdir}/RESULTS.md"
for spec in ${storages}; do du -sb "dump/precision_${spec%%:*}"; done
log "table: ${PWD}/${expdir}/RESULTS.md"
