#!/usr/bin/env bash
# Real-data check of system B's speech branch: the mel-CNN trained from scratch on Berlin EmoDB
# (535 utterances, 10 speakers, 7 classes), leave one speaker out (10 folds), beside a linear
# probe (logistic regression on mean+std pooled frames) of the same log-mel dump.
set -euo pipefail

train_configs="conf/tuning/train_speech_only.yaml"
probes="logmel:logmel:"

./emo.sh --corpus emodb --system cnn_attn --protocol loso --nj 2 --train_configs "${train_configs}" \
  --probes "${probes}" "$@"
