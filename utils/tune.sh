#!/usr/bin/env bash
# Optional hyper-parameter search (no recipe runs it by default): an Optuna study per training
# config (python -m mer.bin.tune) on one fold's validation set, resumable, each writing
# exp/<protocol>/tune/<config>/best.yaml to train with afterwards. Run from a recipe dir:
#   utils/tune.sh --protocol si --space conf/tune/lstm_fc.yaml --n_trials 30 conf/tuning/train_lstm_gate.yaml
#   cp exp/si/tune/train_lstm_gate/best.yaml conf/tuning/train_lstm_gate_tuned.yaml   # then train it
set -euo pipefail
# shellcheck source=/dev/null
. ./path.sh  # the recipe's
protocol=                      # required: data/<protocol>/fold<k>
space=conf/tune/lstm_fc.yaml   # search space (config key -> distribution)
n_trials=20                    # trials per study in all (finished ones count)
fold=1
dumpdir=dump
device=auto
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 --protocol P [--space F] [--n_trials N] [--fold K] [--dumpdir D] [--device D] CONFIG..."
. utils/parse_options.sh
[ $# -gt 0 ] && [ -n "${protocol}" ] || { echo "${help_message}" >&2; exit 2; }
labels=()
[ -f data/all/labels ] && labels=(--labels data/all/labels)
for config in "$@"; do
  "${MER_PYTHON}" -m mer.bin.tune --config "${config}" --space "${space}" --n-trials "${n_trials}" \
    --train-dir "data/${protocol}/fold${fold}/train" --valid-dir "data/${protocol}/fold${fold}/valid" \
    --dumpdir "${dumpdir}" --device "${device}" --study-dir "exp/${protocol}/tune/$(basename "${config}" .yaml)" \
    ${labels[@]+"${labels[@]}"}
done
