#!/usr/bin/env bash
# MemoCMT on MELD (7 classes): memocmt Table 5 and Fig 5; decodes both dev (valid) and test.
# Stages: 1 data (local/data.sh), 2 features, 3 training, 4 inference, 5 scoring, 6 plots.
# Corpus location: $MELD in db.sh or the environment. `./run.sh --help` lists every option.
set -euo pipefail

protocol=official   # default protocol; --protocol on the command line picks another (local/data.sh lists them)
test_sets="valid test"  # Table 5 reports the validation and the test set
train_configs="
  conf/tuning/train_improved_memocmt_cls.yaml
  conf/tuning/train_improved_memocmt_max.yaml
  conf/tuning/train_improved_memocmt_mean.yaml
  conf/tuning/train_improved_memocmt_min.yaml
  conf/tuning/train_improved_memocmt_min_bertft.yaml
  conf/tuning/train_faithful_memocmt_cls.yaml
  conf/tuning/train_faithful_memocmt_max.yaml
  conf/tuning/train_faithful_memocmt_mean.yaml
  conf/tuning/train_faithful_memocmt_min.yaml
  conf/tuning/train_faithful_eq2_memocmt_min.yaml
"

./emo.sh --corpus meld --system memocmt --protocol "${protocol}" --train_configs "${train_configs}" --test_sets "${test_sets}" "$@"
