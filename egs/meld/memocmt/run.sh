#!/usr/bin/env bash
# MemoCMT on MELD (7 classes): memocmt Table 5 and Fig 5; decodes both dev (valid) and test.
# Stages: 1 data, 2 features, 3 training, 4 inference, 5 scoring, 6 plots.
# Corpus location: $MELD in db.sh or the environment. `./run.sh --help` lists every option.
set -euo pipefail

protocol=official   # default protocol; --protocol on the command line picks another (python -m mer.bin.corpora list)
test_sets="valid test"  # Table 5 reports the validation and the test set
# the fusion models, improved and faithful, with each pooling; Eq. 2's variant last
train_configs=$(echo conf/tuning/train_improved_memocmt_{cls,max,mean,min,min_bertft}.yaml \
  conf/tuning/train_faithful_memocmt_{cls,max,mean,min}.yaml conf/tuning/train_faithful_eq2_memocmt_min.yaml)

./emo.sh --corpus meld --system memocmt --protocol "${protocol}" --train_configs "${train_configs}" --test_sets "${test_sets}" "$@"
