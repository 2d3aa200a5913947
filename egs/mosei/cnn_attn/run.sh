#!/usr/bin/env bash
# System B: mel-CNN + BERT/Bi-GRU with attention fusion (Makhmudov et al. 2024) on CMU-MOSEI.
#   ./run.sh                        the paper's setup: its 80/20 split of (segment, emotion) samples
#                                   (resplit, 6 emotions; it LEAKS, see README), speech + text,
#                                   BERT-base; the text module trained alone first
#                                   (train_text_pretrain), then the fusion model from it
#   ./run.sh --protocol official    SDK standard folds, single label by arg-max (ties and all-zero
#                                   segments excluded and counted)
#   ./run.sh --text_only true       transcripts only: the MiniLM text configs (offline stand-in)
# $MOSEI (db.sh, or the environment): CMU_MOSEI as distributed; the standard folds file is found
# below it (mosei_folds.json or the SDK's cmu_mosei_std_folds.py) or given with --folds_file FILE.
# MOSEI's preparation options (--folds_file, --text_only, ...) and emo.sh's pass through;
# ./run.sh --help lists them. The stages: local/run_cnn_attn.sh, shared with MELD.
set -euo pipefail
local/run_cnn_attn.sh mosei "$@"
