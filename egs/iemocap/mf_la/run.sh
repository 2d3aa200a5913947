#!/usr/bin/env bash
# System D (layer adapters + multi-level fusion; mf-layer-adapter Tables I and II) on IEMOCAP,
# 4 classes, leave one session out. S = WavLM-base fine-tuned on raw audio, T = RoBERTa-base
# fine-tuned, C = Whisper-small.en's encoder frozen. Trained on the reference transcripts.
# Two inference passes over the same models:
#   decode_test_asr  tested on Whisper-small.en's hypotheses (dump/asr_whisper): the paper's setting
#   decode_test      tested on the reference transcripts: an upper bound, labelled as such
# Corpus location: $IEMOCAP in db.sh or the environment. `./run.sh --help` lists every option.
set -euo pipefail

protocol=loso   # leave one session out (5 folds)
train_configs="
  conf/tuning/train_stc_mf_la.yaml
  conf/tuning/train_s.yaml
  conf/tuning/train_t.yaml
  conf/tuning/train_c.yaml
  conf/tuning/train_st_none.yaml
  conf/tuning/train_st_mf.yaml
  conf/tuning/train_st_la.yaml
  conf/tuning/train_st_mf_la.yaml
  conf/tuning/train_sc_none.yaml
  conf/tuning/train_sc_mf.yaml
  conf/tuning/train_sc_la.yaml
  conf/tuning/train_sc_mf_la.yaml
  conf/tuning/train_tc_none.yaml
  conf/tuning/train_tc_mf.yaml
  conf/tuning/train_tc_la.yaml
  conf/tuning/train_tc_mf_la.yaml
  conf/tuning/train_stc_none.yaml
  conf/tuning/train_stc_mf.yaml
  conf/tuning/train_stc_la.yaml
"
opts=(--corpus iemocap --system mf_la --protocol "${protocol}" --train_configs "${train_configs}")

# stages 1-6, testing on the ASR hypotheses (the paper's setting)
./emo.sh "${opts[@]}" --infer_args "inputs.text.dump=asr_whisper" --infer_tag asr "$@"
# the upper bound: the same models, the reference transcripts at test time (stages 4-6 only)
./emo.sh "${opts[@]}" "$@" --infer_args "" --infer_tag "" --stage 4
