#!/usr/bin/env bash
# MemoCMT on ESD English (0011-0020, 5 classes): memocmt Tables 2 (ESD) and 4, Figs 2, 3b, 4b.
# Stages: 1 data (local/data.sh), 2 features, 3 training, 4 inference, 5 scoring, 6 plots.
# Corpus location: $ESD in db.sh or the environment. `./run.sh --help` lists every option.
set -euo pipefail

protocol=lo2so   # default protocol; --protocol on the command line picks another (local/data.sh lists them)
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

./emo.sh --corpus esd --system memocmt --protocol "${protocol}" --train_configs "${train_configs}" "$@"
