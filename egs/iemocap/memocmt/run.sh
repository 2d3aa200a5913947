#!/usr/bin/env bash
# MemoCMT on IEMOCAP (4 classes): memocmt Tables 1, 2 and 3, Figs 3a and 4a.
# Stages: 1 data (local/data.sh), 2 features, 3 training, 4 inference, 5 scoring, 6 plots.
# Corpus location: $IEMOCAP in db.sh or the environment. `./run.sh --help` lists every option.
set -euo pipefail

protocol=loso   # default protocol; --protocol on the command line picks another (local/data.sh lists them)
train_configs="
  conf/tuning/train_improved_audio_only.yaml
  conf/tuning/train_improved_memocmt_cls.yaml
  conf/tuning/train_improved_memocmt_max.yaml
  conf/tuning/train_improved_memocmt_mean.yaml
  conf/tuning/train_improved_memocmt_min.yaml
  conf/tuning/train_improved_memocmt_min_bertft.yaml
  conf/tuning/train_improved_text_only.yaml
  conf/tuning/train_faithful_audio_only.yaml
  conf/tuning/train_faithful_memocmt_cls.yaml
  conf/tuning/train_faithful_memocmt_max.yaml
  conf/tuning/train_faithful_memocmt_mean.yaml
  conf/tuning/train_faithful_memocmt_min.yaml
  conf/tuning/train_faithful_eq2_memocmt_min.yaml
  conf/tuning/train_faithful_text_only.yaml
"

./emo.sh --corpus iemocap --system memocmt --protocol "${protocol}" --train_configs "${train_configs}" "$@"
