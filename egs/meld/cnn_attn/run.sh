#!/usr/bin/env bash
# System B: mel-CNN + BERT/Bi-GRU with attention fusion (Makhmudov et al. 2024) on MELD.
#   ./run.sh                        official split, 7 classes, speech + text (needs MELD.Raw's media)
#   ./run.sh --text_only true       MELD's CSVs alone: the text branch with dialogue context, causal,
#                                   without context, beside a linear probe (offline MiniLM as BERT)
#   ./run.sh --protocol resplit     the paper's pooled 80/20 split, 6 classes (it LEAKS; see README)
#   ./run.sh --local_data_opts "--label_set 6class" --expdir exp_6class   official split, 6 classes
# $MELD (db.sh, or the environment): MELD.Raw, or for --text_only the folder with the three CSVs.
# Other options pass through to emo.sh (../../TEMPLATE/emo1/emo.sh; ./run.sh --help lists them).
set -euo pipefail

text_only=false     # true: no media needed; text configs and the MiniLM dump only
local_data_opts=    # options for local/data.sh (--label_set 6class, ...)
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
probes="minilm_l4:minilm:0:mean"  # logistic regression on mean-pooled MiniLM layer 4 (stored layer 0)

export HF_HUB_OFFLINE=1  # MiniLM is local (tools/models)
./emo.sh --corpus meld --system cnn_attn --protocol official --nj 2 --train_configs "${train_configs}" \
  --feats_config "${feats_config}" --probes "${probes}" --local_data_opts "${local_data_opts}" \
  ${args[@]+"${args[@]}"}
