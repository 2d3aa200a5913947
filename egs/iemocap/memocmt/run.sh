#!/usr/bin/env bash
# MemoCMT on IEMOCAP (4 classes): memocmt Tables 1, 2 and 3, Figs 3a and 4a.
# Stages: 1 data, 2 features, 3 training, 4 inference, 5 scoring, 6 plots.
# Corpus location: $IEMOCAP in db.sh or the environment. `./run.sh --help` lists every option.
set -euo pipefail

protocol=loso   # default protocol; --protocol on the command line picks another (python -m mer.bin.corpora list)
# improved, then faithful: audio alone, the fusion models with each pooling, text alone
train_configs=$(echo conf/tuning/train_improved_{audio_only,memocmt_{cls,max,mean,min,min_bertft},text_only}.yaml \
  conf/tuning/train_faithful_{audio_only,memocmt_{cls,max,mean,min},eq2_memocmt_min,text_only}.yaml)

./emo.sh --corpus iemocap --system memocmt --protocol "${protocol}" --train_configs "${train_configs}" "$@"
