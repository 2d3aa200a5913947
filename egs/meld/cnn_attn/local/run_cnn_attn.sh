#!/usr/bin/env bash
# System B's stages on MELD or CMU-MOSEI (egs/mosei/cnn_attn links this file; each run.sh says
# what it runs):   local/run_cnn_attn.sh CORPUS [options of run.sh]
# Both train the same configs: speech + text with BERT-base, or with --text_only true (a corpus
# option: prepare writes no wav.scp) the MiniLM text configs alone. The default protocol is the
# paper's resplit; --protocol official picks the corpus's own split. Other options go to emo.sh.
set -euo pipefail
# shellcheck source=../../../../utils/lib/peek_option.sh
. utils/lib/peek_option.sh
corpus=$1
shift

# train_text_pretrain comes first: train_cnn_attn and train_cnn_concat start from it (model.init),
# and stage 3 trains it in a wave of its own, also with --train_nj N.
train_configs=$(echo conf/tuning/train_text_pretrain.yaml conf/tuning/train_cnn_attn{,_causal,_nocontext}.yaml \
  conf/tuning/train_cnn_concat.yaml conf/tuning/train_speech_only.yaml)
feats_config=conf/feats.yaml
probes="bert_last:bert:0:mean"  # logistic regression on mean-pooled BERT-base (its last layer)
if [ "$(peek_option text_only false "$@")" = true ]; then  # emo.sh checks it is true or false
  train_configs=$(echo conf/tuning/train_text_{only,causal,nocontext}.yaml)
  feats_config=conf/feats_text.yaml
  probes="minilm_l4:minilm:0:mean"  # logistic regression on mean-pooled MiniLM layer 4 (stored layer 0)
  export HF_HUB_OFFLINE=1  # MiniLM is local (tools/models)
fi

./emo.sh --corpus "${corpus}" --system cnn_attn --protocol resplit --nj 2 --train_configs "${train_configs}" \
  --feats_config "${feats_config}" --probes "${probes}" "$@"
