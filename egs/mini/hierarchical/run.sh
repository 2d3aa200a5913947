#!/usr/bin/env bash
# System C demo on the synthetic corpus (whose words carry emotion): a speech gate (neutral vs
# emotional), a speech emotion model (ang/hap/sad), a text model over MiniLM token states, and
# the hierarchy combiner that re-classifies what speech calls neutral with text (Algorithm 1,
# t chosen on valid). Speech models on frozen Whisper tiny.en and on the paper's acoustic
# features; flat 4-class baselines with the same encoders. Offline, CPU, minutes.
set -euo pipefail

train_configs="
  conf/tuning/train_text.yaml
  conf/tuning/train_whisper_gate.yaml
  conf/tuning/train_whisper_emotion.yaml
  conf/tuning/train_whisper_flat.yaml
  conf/tuning/train_acoustic_gate.yaml
  conf/tuning/train_acoustic_emotion.yaml
  conf/tuning/train_acoustic_flat.yaml
"
combine_configs="
  conf/combine/hier_whisper_speech.yaml
  conf/combine/hier_whisper_text_argmax.yaml
  conf/combine/hier_whisper_text.yaml
  conf/combine/hier_acoustic_speech.yaml
  conf/combine/hier_acoustic_text_argmax.yaml
  conf/combine/hier_acoustic_text.yaml
"

export HF_HUB_OFFLINE=1  # both encoders are local (tools/models)
./emo.sh --corpus synthetic --system hierarchical --protocol fixed --nj 2 --test_sets "valid test" \
  --train_configs "${train_configs}" --combine_configs "${combine_configs}" "$@"
# The hierarchy reports (every t, what text corrected, examples with transcripts) beside RESULTS.md.
shopt -s nullglob
reports=(exp/*/hier_*_text/hierarchy_report.md)
[ "${#reports[@]}" -eq 0 ] || cat "${reports[@]}" > HIERARCHY.md
