#!/usr/bin/env bash
# Whisper tiny.en on EmoDB with its two input windows: every utterance padded to Whisper's 30 s
# window, or encoded at its own length (`whisper_input_seconds: utterance`). Dumps every hidden state
# both ways, runs a linear probe per layer (LOSO; stage 4's probe: logistic regression on mean+std
# pooled frames, fit on train+valid) and writes the table to ${expdir}/RESULTS.md (not RESULTS.md).
# Needs stage 1 (data/); the dumps (dump/whisper_30s, dump/whisper_utt) are reused when present.
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

n_folds=$(find "data/${protocol}" -maxdepth 1 -name 'fold*' -type d | wc -l)
[ "${n_folds}" -gt 0 ] || die "no data/${protocol}/fold*: run ./run.sh --stage 1 --stop_stage 1 first"

for spec in ${windows}; do
  IFS=: read -r tag window <<< "${spec}"
  dump=dump/whisper_${tag}
  log "dumping Whisper tiny.en, window ${window}, to ${dump}"
  "${MER_PYTHON}" -m mer.bin.dump_feats --config conf/feats.yaml --name whisper \
    --whisper-input-seconds "${window}" --nj "${nj}" data/all "${dump}"
  for layer in ${layers}; do
    out=${expdir}/${protocol}/probe_whisper_${tag}_l${layer}
    log "probe: ${dump} layer ${layer} -> ${out}"
    "${MER_PYTHON}" -m mer.bin.linear_probe --dump "${dump}" --layer "${layer}" \
      --protocol-dir "data/${protocol}" --out "${out}" --corpus emodb
    for fold in "${out}"/fold*/decode_test; do
      "${MER_PYTHON}" -m mer.bin.score "${fold}" > /dev/null
    done
    "${MER_PYTHON}" -m mer.bin.aggregate_scores "${out}" --expected-folds "${n_folds}" > /dev/null
  done
done
"${MER_PYTHON}" -m mer.bin.make_results . --exp "${expdir}" --out "${expdir}/RESULTS.md"
for spec in ${windows}; do grep -H '"rtf"' "dump/whisper_${spec%%:*}/feats_info.json"; done
log "table: ${PWD}/${expdir}/RESULTS.md"
