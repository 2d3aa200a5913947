#!/usr/bin/env bash
# System B on the synthetic demo corpus, offline, on CPU: 40-bin log-mel (speech branch) and
# frozen MiniLM (text branch); the corpus's dialogues keep an emotion from turn to turn, so the
# Bi-GRU's context is measurably useful. Every stage can be re-run alone:
#   ./run.sh
#   ./run.sh --stage 3 --stop_stage 3 --train_configs conf/tuning/train_cnn_attn.yaml
# Options of emo.sh (../../TEMPLATE/emo1/emo.sh) pass through; `./run.sh --help` lists them.
set -euo pipefail

train_configs="
  conf/tuning/train_cnn_attn.yaml
  conf/tuning/train_cnn_attn_nocontext.yaml
  conf/tuning/train_cnn_concat.yaml
  conf/tuning/train_speech_only.yaml
  conf/tuning/train_text_only.yaml
  conf/tuning/train_text_nocontext.yaml
"

export HF_HUB_OFFLINE=1  # MiniLM is local (tools/models)
./emo.sh --corpus synthetic --system cnn_attn --protocol fixed --nj 2 \
  --train_configs "${train_configs}" "$@"
