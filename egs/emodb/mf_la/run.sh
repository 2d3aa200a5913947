#!/usr/bin/env bash
# System D (layer adapters + multi-level fusion) on Berlin EmoDB (open; 535 utterances, 10 speakers,
# 7 classes), leave one speaker out, with offline stand-ins for the paper's encoders (README.md):
# S = Whisper tiny.en, every hidden state (frozen dump), C = Whisper base (frozen dump),
# T = MiniLM (frozen) on Whisper tiny.en's English transcripts of the German audio.
# Every row of the paper's Tables I and II is a config in conf/tuning/; the default run trains the
# proposed system and the single streams (each 10 folds); add others with --train_configs.
set -euo pipefail

train_configs="
  conf/tuning/train_stc_mf_la.yaml
  conf/tuning/train_s.yaml
  conf/tuning/train_t.yaml
  conf/tuning/train_c.yaml
"
# the reference from ../memocmt: a linear probe (logistic regression on mean+std pooled frames) of
# Whisper tiny.en's layer 2, the best single layer there
probes="whisper_tiny_l2:whisper_tiny:2"

export HF_HUB_OFFLINE=1  # every encoder is local (tools/models)
./emo.sh --corpus emodb --system mf_la --protocol loso --nj 2 --train_nj 2 --train_configs "${train_configs}" \
  --probes "${probes}" "$@"
