#!/usr/bin/env bash
# System D (layer adapters + multi-level fusion; mf-layer-adapter Tables I and II) on IEMOCAP,
# 4 classes, leave one session out, trained on all 8 speakers of the other sessions for a fixed
# 30 epochs. S = WavLM-base fine-tuned on raw audio, T = RoBERTa-base fine-tuned on Whisper-small.en's
# hypotheses (train, valid and test, as the paper), C = Whisper-small.en's encoder frozen.
# Two inference passes:
#   decode_test      every config on its own text input: the paper's rows are the ASR-text configs
#   decode_test_asr  the reference-text variants (*_reftext) tested on the ASR hypotheses
# Then local/show_wer.sh prints the ASR WER (dump/asr_whisper/wer.json) beside the paper's.
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
# trained and validated on the reference transcripts (not the paper's setting, README.md)
reftext_configs="
  conf/tuning/train_stc_mf_la_reftext.yaml
  conf/tuning/train_t_reftext.yaml
"
opts=(--corpus iemocap --system mf_la --protocol "${protocol}")

# stages 1-6: every config tested on the text it was trained on (ASR hypotheses, or the reference
# transcripts for the *_reftext variants: their upper bound without ASR errors)
./emo.sh "${opts[@]}" --train_configs "${train_configs} ${reftext_configs}" "$@"
# the *_reftext models tested on the ASR hypotheses (stages 4-6 only; test set test_asr)
./emo.sh "${opts[@]}" --train_configs "${reftext_configs}" "$@" \
  --infer_args "inputs.text.dump=asr_whisper" --infer_tag asr --stage 4
# the WER of the transcription step, when stage 2 has written it
if [ -f dump/asr_whisper/wer.json ]; then local/show_wer.sh dump/asr_whisper/wer.json; fi
