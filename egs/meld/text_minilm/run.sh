#!/usr/bin/env bash
# Real-data check: the MELD text-only ablation on MELD's real CSVs (no media needed), MiniLM,
# official train/dev/test split, 7 classes. Frozen and fine-tuned MiniLM models beside a linear
# probe (logistic regression on mean-pooled MiniLM layer 4). $MELD (db.sh) may point at the full
# MELD.Raw or just the folder with the three CSVs (stage 0 downloads the CSVs there).
set -euo pipefail

train_configs="
  conf/tuning/train_text_frozen_mean.yaml
  conf/tuning/train_text_finetune_mean.yaml
"
probes="minilm_l4:minilm:4:mean"

export HF_HUB_OFFLINE=1  # MiniLM is local (tools/models)
./emo.sh --corpus meld --text_only true --system text_only --protocol official --nj 2 --train_configs "${train_configs}" \
  --probes "${probes}" --test_sets "valid test" "$@"
