#!/usr/bin/env bash
# Real-data check on Berlin EmoDB (open; 535 utterances, 10 speakers, 7 classes): audio-only
# MemoCMT-style models on frozen Whisper tiny.en, leave one speaker out (10 folds), beside
# linear probes (logistic regression on mean+std pooled frames) of log-mel and Whisper layers.
# The recipe's earlier run.sh, kept as it made the README's "explored on the test folds" figures
# (RESULTS.md at ef34b56): run from the recipe dir, local/run_explored.sh [emo.sh options]; the
# trained CMVN configs learn from train+valid and the probes are fitted on train+valid, their
# settings chosen by looking at the test folds' results. ./run.sh chooses on validation speakers.
set -euo pipefail

# The trained audio models: tiny.en as before (layer norm, mean pooling), then per-speaker CMVN and
# mean+std pooling on tiny.en and on Whisper base. Also: conf/tuning/train_audio_max.yaml.
train_configs="
  conf/tuning/train_audio_mean.yaml
  conf/tuning/train_audio_cmvn.yaml
  conf/tuning/train_audio_base_cmvn.yaml
"
# Linear probes NAME:DUMP:LAYER[:POOL[:CMVN]] on the same dumps: every hidden state of Whisper base
# with and without per-speaker CMVN, so "the best probe" is the best of all of them.
probes="
  logmel:logmel:
  whisper_l2:whisper:2
  whisper_last:whisper:
  whisper_l2_cmvn:whisper:2:mean+std:speaker
  whisper_l3_cmvn:whisper:3:mean+std:speaker
$(for k in 0 1 2 3 4 5 6; do printf '  base_l%d:whisper_base:%d\n  base_l%d_cmvn:whisper_base:%d:mean+std:speaker\n' \
    "$k" "$k" "$k" "$k"; done)
"

export HF_HUB_OFFLINE=1  # Whisper tiny.en and base are local (tools/models)
./emo.sh --corpus emodb --system memocmt --protocol loso --nj 2 --train_nj 2 --train_configs "${train_configs}" \
  --probes "${probes}" "$@"
