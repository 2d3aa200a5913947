#!/usr/bin/env bash
# Whisper tiny.en on EmoDB with its two input windows: every utterance padded to Whisper's 30 s
# window, or encoded at its own length (`whisper_input_seconds: utterance`). Dumps every hidden state
# both ways, runs a linear probe per layer (local/probe_dump.sh: stage 4's probe, LOSO) and writes
# the table to ${expdir}/RESULTS.md (not RESULTS.md). Needs stage 1 (data/); the dumps
# (dump/whisper_30s, dump/whisper_utt) are reused when present.
#
#   local/compare_whisper_windows.sh [--nj 2] [--expdir exp/windows] [--layers "0 1 2 3 4"]
#       [--windows "30s:30 utt:utterance"]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
# shellcheck source=../../../../utils/lib/log.sh
. utils/lib/log.sh

nj=2                 # dump jobs
expdir=exp/windows   # probes and the comparison table
layers="0 1 2 3 4"   # hidden states to probe (0: the embeddings, 4: the last layer of tiny.en)
windows="30s:30 utt:utterance"  # TAG:WINDOW ...: dump/whisper_TAG with --whisper-input-seconds WINDOW
protocol=loso
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--nj N] [--expdir DIR] [--layers \"0 1 ...\"] [--windows \"TAG:WINDOW ...\"]"
. utils/parse_options.sh

for spec in ${windows}; do
  IFS=: read -r tag window <<< "${spec}"
  dump=dump/whisper_${tag}
  log "dumping Whisper tiny.en, window ${window}, to ${dump}"
  "${MER_PYTHON}" -m mer.bin.dump_feats --config conf/feats.yaml --name whisper \
    --whisper-input-seconds "${window}" --nj "${nj}" data/all "${dump}"
  for layer in ${layers}; do
    local/probe_dump.sh --protocol "${protocol}" "whisper_${tag}" "${layer}" \
      "${expdir}/${protocol}/probe_whisper_${tag}_l${layer}"
  done
done
"${MER_PYTHON}" -m mer.bin.make_results . --exp "${expdir}" --out "${expdir}/RESULTS.md"
for spec in ${windows}; do grep -H '"rtf"' "dump/whisper_${spec%%:*}/feats_info.json"; done
log "table: ${PWD}/${expdir}/RESULTS.md"
