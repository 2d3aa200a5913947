#!/usr/bin/env bash
# Real-data check on Berlin EmoDB (open; 535 utterances, 10 speakers, 7 classes): audio-only
# MemoCMT-style models on frozen Whisper, leave one speaker out (10 folds), beside linear probes
# (logistic regression on mean+std pooled frames) of Whisper base's hidden states.
# Every setting reported as `select_*` is chosen per fold on that fold's validation speaker alone
# (README.md, "Settings chosen on the validation speakers"): the trained configs learn from the
# training speakers only (train.fit_on=train) for their fixed epochs (train.best_metric=last), the
# probes are fitted on them only (fit_on=train), and each `select` combiner (conf/combine/) picks,
# per fold and seed, the candidate with the best UA on the validation speaker's decode. With
# --refit true every candidate also has a twin fitted on train+valid; the `*_refit` combiners make
# the same choice and test the chosen candidate's twin (settings chosen without the test speaker,
# then learnt from every other speaker, as in nested cross-validation).
# 4 classes instead of 7 (use another exp dir): ./run.sh --label_set 4class --expdir exp_4class
set -euo pipefail

# The trained audio models: tiny.en (layer norm, mean pooling), then per-speaker CMVN and mean+std
# pooling on tiny.en and on Whisper base; each trained once per seed. Also: conf/tuning/train_audio_max.yaml.
train_configs="
  conf/tuning/train_audio_mean.yaml
  conf/tuning/train_audio_cmvn.yaml
  conf/tuning/train_audio_base_cmvn.yaml
"
seeds="1 2 3"
# The probe grid NAME:DUMP:LAYER:POOL:CMVN:C=..:fit_on=train: every hidden state of Whisper base x
# C in {0.1, 1, 10}, with and without per-speaker CMVN (the names conf/combine/select_*.yaml list).
probes=$(for k in 0 1 2 3 4 5 6; do for c in 0.1 1 10; do
  printf '  sel_base_l%d_c%s:whisper_base:%d:mean+std::C=%s:fit_on=train\n' "$k" "$c" "$k" "$c"
  printf '  sel_base_l%d_cmvn_c%s:whisper_base:%d:mean+std:speaker:C=%s:fit_on=train\n' "$k" "$c" "$k" "$c"
done; done)
combine_configs="
  conf/combine/select_trained.yaml
  conf/combine/select_probe.yaml
  conf/combine/select_all.yaml
  conf/combine/select_trained_refit.yaml
  conf/combine/select_probe_refit.yaml
  conf/combine/select_all_refit.yaml
"

export HF_HUB_OFFLINE=1  # Whisper tiny.en and base are local (tools/models)
./emo.sh --corpus emodb --system memocmt --protocol loso --nj 2 --train_nj 2 --train_configs "${train_configs}" \
  --train_args "train.fit_on=train train.best_metric=last" --seeds "${seeds}" --refit true --test_sets "valid test" \
  --probes "${probes}" --combine_configs "${combine_configs}" "$@"
