#!/usr/bin/env bash
# System C (Alqurashi et al., IJCNN 2024) on IEMOCAP, 4 classes: every row of Table II is a named
# configuration (the three classifiers LSTM / w2v / w2vASR, speech-only baseline, + text, + text
# at each threshold, and t chosen on valid), in the paper's two settings:
#   ./run.sh                      # si: sessions 1-4 train, session 5 male valid, female test
#   ./run.sh --protocol sd        # sd: random 80/10/10 (speaker-dependent)
# The LSTM rows read the paper's three acoustic sets (conf/feats.yaml: librosa's 39 MFCCs, the cited
# hand-crafted eight, GeMAPS v01b functionals); the wav2vec 2.0 configs fine-tune on raw audio
# (a GPU: --ngpu 1). Only the LSTM rows:
#   ./run.sh --train_configs "$(echo conf/tuning/train_{text,lstm_*}.yaml)" \
#            --combine_configs "$(echo conf/combine/hier_lstm_*.yaml)"
set -euo pipefail

train_configs="
  conf/tuning/train_text.yaml
  conf/tuning/train_lstm_gate.yaml
  conf/tuning/train_lstm_emotion.yaml
  conf/tuning/train_lstm_flat.yaml
  conf/tuning/train_w2v_gate.yaml
  conf/tuning/train_w2v_emotion.yaml
  conf/tuning/train_w2v_flat.yaml
  conf/tuning/train_w2vasr_gate.yaml
  conf/tuning/train_w2vasr_emotion.yaml
  conf/tuning/train_w2vasr_flat.yaml
"
combine_configs=$(ls conf/combine/hier_*.yaml)

./emo.sh --corpus iemocap --system hierarchical --protocol si --test_sets "valid test" \
  --train_configs "${train_configs}" --combine_configs "${combine_configs}" "$@"
# The hierarchy reports (every t, what text corrected, examples with transcripts) beside RESULTS.md.
shopt -s nullglob
reports=(exp/*/hier_*_text/hierarchy_report.md)
[ "${#reports[@]}" -eq 0 ] || cat "${reports[@]}" > HIERARCHY.md
