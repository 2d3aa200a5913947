#!/usr/bin/env bash
# System C demo on the synthetic corpus (whose words carry emotion): a speech gate (neutral vs
# emotional), a speech emotion model (ang/hap/sad), a text model over MiniLM token states, and
# the hierarchy combiner that re-classifies what speech calls neutral with text (Algorithm 1,
# t chosen on valid). Speech models on frozen Whisper tiny.en and on the paper's acoustic
# features; flat 4-class baselines with the same encoders. Offline, CPU, minutes.
set -euo pipefail

# per speech encoder (Whisper, acoustic features): gate, emotion model, flat baseline; the hierarchy
# on speech alone, with text's arg-max, with text (Algorithm 1)
train_configs=$(echo conf/tuning/train_text.yaml conf/tuning/train_{whisper,acoustic}_{gate,emotion,flat}.yaml)
combine_configs=$(echo conf/combine/hier_{whisper,acoustic}_{speech,text_argmax,text}.yaml)

export HF_HUB_OFFLINE=1  # both encoders are local (tools/models)
./emo.sh --corpus synthetic --system hierarchical --protocol fixed --nj 2 --test_sets "valid test" \
  --train_configs "${train_configs}" --combine_configs "${combine_configs}" "$@"
# The hierarchy reports (every t, what text corrected, examples with transcripts) beside RESULTS.md.
shopt -s nullglob
reports=(exp/*/hier_*_text/hierarchy_report.md)
[ "${#reports[@]}" -eq 0 ] || cat "${reports[@]}" > HIERARCHY.md
