#!/usr/bin/env bash
# Real-data check on Berlin EmoDB (open; 535 utterances, 10 speakers, 7 classes): audio-only
# MemoCMT-style models on frozen Whisper tiny.en, leave one speaker out (10 folds), beside
# linear probes (logistic regression on mean+std pooled frames) of log-mel and Whisper layers.
# 4 classes instead of 7 (use another exp dir): ./run.sh --local_data_opts "--label_map 4class"
set -euo pipefail

train_configs="conf/tuning/train_audio_mean.yaml"  # also: conf/tuning/train_audio_max.yaml
probes="
  logmel:logmel:
  whisper_l2:whisper:2
  whisper_last:whisper:
"

export HF_HUB_OFFLINE=1  # Whisper tiny.en is local (tools/models)
./emo.sh --corpus emodb --system memocmt --protocol loso --nj 2 --train_configs "${train_configs}" \
  --probes "${probes}" "$@"
