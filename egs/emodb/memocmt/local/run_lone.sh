#!/usr/bin/env bash
# Lone recordings: the Whisper base per-speaker CMVN model trained so that a recording recognised
# without its speaker works too (inputs.audio.cmvn_typical_prob: half of the training loads are
# normalised with the typical training speaker's statistics, which the pack keeps for such
# recordings), on the training speakers of each fold (as the selected candidates), one seed; then
# each fold's model packed and run by mer-recognize on its test speaker, with the speaker given and
# one recording at a time (local/check_deploy.py), against the fold's decode dir.
# Needs stages 1-2 of run.sh. Writes exp/loso/<tag>/fold*/deploy_check and prints the table.
set -euo pipefail
prob=0.5
. utils/parse_options.sh

export HF_HUB_OFFLINE=1  # Whisper base is local (tools/models)
args="train.fit_on=train train.best_metric=last inputs.audio.cmvn_typical_prob=${prob}"
./emo.sh --corpus emodb --system memocmt --protocol loso --nj 2 --train_nj 2 --stage 3 --stop_stage 4 \
  --train_configs conf/tuning/train_audio_base_cmvn.yaml --train_args "${args}" --seeds 1 --test_sets test
. ./path.sh
tag=$("${MER_PYTHON}" -m mer.bin.exp_tag conf/tuning/train_audio_base_cmvn.yaml ${args} train.seed=1)
mapfile -t folds < <(find "exp/loso/${tag}" -maxdepth 1 -name 'fold*' -type d | sort -V)
"${MER_PYTHON}" local/check_deploy.py "${folds[@]}"
