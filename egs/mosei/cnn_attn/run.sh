#!/usr/bin/env bash
# System B: mel-CNN + BERT/Bi-GRU with attention fusion (Makhmudov et al. 2024) on CMU-MOSEI.
#   ./run.sh                        SDK standard folds, single label by arg-max (ties and all-zero
#                                   segments excluded and counted), speech + text
#   ./run.sh --protocol resplit     the paper's split of (segment, emotion) samples (it LEAKS; README)
#   ./run.sh --text_only true       transcripts only: the text configs and the MiniLM dump
# $MOSEI (db.sh, or the environment): CMU_MOSEI as distributed; the standard folds file is found
# below it (mosei_folds.json or the SDK's cmu_mosei_std_folds.py) or given with
# --local_data_opts "--folds FILE". Other options pass through to emo.sh.
set -euo pipefail

text_only=false     # true: no audio; text configs and the MiniLM dump only
local_data_opts=    # options for local/data.sh (--folds FILE, ...)
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --text_only) text_only=$2; shift 2 ;;
    --local_data_opts) local_data_opts=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

train_configs="
  conf/tuning/train_cnn_attn.yaml
  conf/tuning/train_cnn_attn_causal.yaml
  conf/tuning/train_cnn_attn_nocontext.yaml
  conf/tuning/train_cnn_concat.yaml
  conf/tuning/train_speech_only.yaml
  conf/tuning/train_text_only.yaml
  conf/tuning/train_text_causal.yaml
  conf/tuning/train_text_nocontext.yaml
"
feats_config=conf/feats.yaml
if "${text_only}"; then
  train_configs="
    conf/tuning/train_text_only.yaml
    conf/tuning/train_text_causal.yaml
    conf/tuning/train_text_nocontext.yaml
  "
  feats_config=conf/feats_text.yaml
  local_data_opts="--text_only true ${local_data_opts}"
fi
probes="minilm_l4:minilm:0:mean"

export HF_HUB_OFFLINE=1  # MiniLM is local (tools/models)
./emo.sh --corpus mosei --system cnn_attn --protocol official --nj 2 --train_configs "${train_configs}" \
  --feats_config "${feats_config}" --probes "${probes}" --local_data_opts "${local_data_opts}" \
  ${args[@]+"${args[@]}"}
