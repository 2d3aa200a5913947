#!/usr/bin/env bash
# The embedded demo: MemoCMT on a synthetic four-emotion corpus, offline, on CPU, in minutes.
# Audio: frozen Whisper tiny.en; text: frozen MiniLM. Every stage can be re-run alone:
#   ./run.sh                      all stages (1 data .. 6 plots)
#   ./run.sh --stage 3 --stop_stage 3 --train_configs conf/tuning/train_memocmt_min.yaml
# Options of emo.sh (../../TEMPLATE/emo1/emo.sh) pass through; `./run.sh --help` lists them.
set -euo pipefail

# The slowest (faithful: batch size 1) first, so that --train_nj 2 ends with short jobs.
train_configs="
  conf/tuning/train_memocmt_faithful_min.yaml
  conf/tuning/train_text_only.yaml
  conf/tuning/train_audio_only.yaml
  conf/tuning/train_memocmt_cls.yaml
  conf/tuning/train_memocmt_mean.yaml
  conf/tuning/train_memocmt_min.yaml
  conf/tuning/train_memocmt_max.yaml
"

export HF_HUB_OFFLINE=1  # both encoders are local (tools/models); never wait on the hub
./emo.sh --corpus synthetic --system memocmt --protocol fixed --nj 2 --train_nj 2 \
  --train_configs "${train_configs}" "$@"
