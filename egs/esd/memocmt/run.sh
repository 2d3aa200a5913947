#!/usr/bin/env bash
# MemoCMT on ESD English (0011-0020, 5 classes): memocmt Tables 2 (ESD) and 4, Figs 2, 3b, 4b.
# Stages: 1 data, 2 features, 3 training, 4 inference, 5 scoring, 6 plots.
# Corpus location: $ESD in db.sh or the environment. `./run.sh --help` lists every option.
set -euo pipefail

protocol=lo2so   # default protocol; --protocol on the command line picks another (python -m mer.bin.corpora list)
# the fusion models, improved and faithful, with each pooling; Eq. 2's variant last
train_configs=$(echo conf/tuning/train_improved_memocmt_{cls,max,mean,min,min_bertft}.yaml \
  conf/tuning/train_faithful_memocmt_{cls,max,mean,min}.yaml conf/tuning/train_faithful_eq2_memocmt_min.yaml)

./emo.sh --corpus esd --system memocmt --protocol "${protocol}" --train_configs "${train_configs}" "$@"
