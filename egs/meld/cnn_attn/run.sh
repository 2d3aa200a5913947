#!/usr/bin/env bash
# System B: mel-CNN + BERT/Bi-GRU with attention fusion (Makhmudov et al. 2024) on MELD.
#   ./run.sh                        the paper's setup: its pooled 80/20 re-split without fear (resplit,
#                                   6 classes; it LEAKS, see README), speech + text, BERT-base; the
#                                   text module trained alone first (train_text_pretrain), then the
#                                   fusion model from it (needs MELD.Raw's media and bert-base-uncased)
#   ./run.sh --protocol official    MELD's own train/dev/test, 7 classes (add --label_set 6class for 6)
#   ./run.sh --text_only true --protocol official   MELD's CSVs alone, offline: the text branch with
#                                   dialogue context, causal, without context, beside a linear probe,
#                                   with MiniLM standing in for BERT (what RESULTS.md holds)
# $MELD (db.sh, or the environment): MELD.Raw, or for --text_only the folder with the three CSVs.
# MELD's preparation options (--label_set, --text_only, ...) and emo.sh's (../../TEMPLATE/emo1/emo.sh)
# pass through; ./run.sh --help lists them. The stages: local/run_cnn_attn.sh, shared with CMU-MOSEI.
set -euo pipefail
local/run_cnn_attn.sh meld "$@"
