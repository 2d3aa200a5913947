#!/usr/bin/env bash
# Stage 1 of the demos (every egs/mini recipe links this file): generate the synthetic corpus
# (data/synthetic), then the shared preparation: data/all and the protocol's folds
# (data/<protocol>/fold1/{train,valid,test}). A re-run with the same options rewrites nothing: the
# generator skips finished wavs and make_protocol unchanged folds.
#   local/data.sh [--protocol fixed] [--num_speakers N] ... [-- prepare_corpus options]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh

protocol=fixed        # the generator's speaker-disjoint split
num_speakers=10       # speakers (split 6/2/2 into train/valid/test)
utts_per_speaker=32   # utterances per speaker, balanced over the four emotions
seed=0                # generator seed
audio_noise=          # share of utterances whose acoustics follow another emotion (empty: default)
text_noise=           # share of utterances whose words follow another emotion (empty: default)
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--protocol fixed] [--num_speakers N] [--utts_per_speaker M] [--seed S]"
. utils/parse_options.sh

opts=(--num-speakers "${num_speakers}" --utts-per-speaker "${utts_per_speaker}" --seed "${seed}")
[ -n "${audio_noise}" ] && opts+=(--audio-noise "${audio_noise}")
[ -n "${text_noise}" ] && opts+=(--text-noise "${text_noise}")
"${MER_PYTHON}" -m mer.bin.make_synthetic_corpus data/synthetic "${opts[@]}"
SYNTHETIC=data/synthetic utils/prepare_data.sh synthetic "${protocol}" "$@"
