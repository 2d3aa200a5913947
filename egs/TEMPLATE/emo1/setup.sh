#!/usr/bin/env bash
# Make a new recipe that runs at once on a registered corpus (python -m mer.bin.corpora list):
#   egs/TEMPLATE/emo1/setup.sh egs/<corpus>/<system> --corpus NAME [--system memocmt]
# It links emo.sh, path.sh, db.sh, cmd.sh and utils/ to the shared copies (a site's own job settings go in
# a git-ignored cmd_local.sh, its corpus locations in db_local.sh), and writes run.sh (the corpus's
# default protocol; stage 1 is emo.sh's own, which takes the corpus module's options: ./run.sh --help
# lists them), conf/feats.yaml (frozen Whisper tiny.en, every layer, and log-mel) and a working
# audio-only config, conf/tuning/train_audio_mean.yaml, with linear probes beside it. Then:
#   cd egs/<corpus>/<system> && ./run.sh            # stages 1-6
# and add configs to conf/tuning/ and run.sh as the system needs (and a local/data.sh, which emo.sh
# then runs for stage 1, where the corpus needs more than its preparation: egs/mini/memocmt has one).
set -euo pipefail
usage="Usage: $0 egs/<corpus>/<system> --corpus NAME [--system memocmt]"
dir=
corpus=
system=memocmt
while [ $# -gt 0 ]; do
  case $1 in
    --corpus) corpus=$2; shift 2 ;;
    --system) system=$2; shift 2 ;;
    -h|--help) echo "${usage}"; exit 0 ;;
    -*) echo "$0: unknown option $1" >&2; echo "${usage}" >&2; exit 2 ;;
    *) [ -z "${dir}" ] || { echo "${usage}" >&2; exit 2; }; dir=$1; shift ;;
  esac
done
[ -n "${dir}" ] && [ -n "${corpus}" ] || { echo "${usage}" >&2; exit 2; }
[ -e "${dir}" ] && { echo "$0: ${dir} exists" >&2; exit 1; }
template=$(cd "$(dirname "$0")" && pwd)
root=$(cd "${template}/../../.." && pwd)
# shellcheck source=../../../utils/lib/python.sh
. "${root}/utils/lib/python.sh"
# The corpus's location variable (db.sh) and default protocol, from the corpus registry.
read -r variable protocol < <("${MER_PYTHON}" -c '
import sys
from mer.data.corpora.registry import UnknownCorpus, get_corpus
try:
    corpus = get_corpus(sys.argv[1])
except UnknownCorpus as e:
    sys.exit(f"setup.sh: {e}")
print(corpus.db_variable, corpus.default_protocol)' "${corpus}")

mkdir -p "${dir}/conf/tuning"
rel() { "${MER_PYTHON}" -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$1" "$2"; }
for f in emo.sh path.sh db.sh cmd.sh; do ln -s "$(rel "${template}/${f}" "${dir}")" "${dir}/${f}"; done
ln -s "$(rel "${root}/utils" "${dir}")" "${dir}/utils"

cat > "${dir}/run.sh" <<RUN
#!/usr/bin/env bash
# ${system} on ${corpus} (made by egs/TEMPLATE/emo1/setup.sh): stages 1-6 with a frozen-Whisper
# audio-only model beside linear probes. The corpus is where \$${variable} (db.sh) says; its
# preparation options are run.sh's too (./run.sh --help lists them).
set -euo pipefail

protocol=${protocol}   # the corpus's default protocol; --protocol picks another
train_configs="
  conf/tuning/train_audio_mean.yaml
"
probes="
  whisper_l2:whisper:2
  whisper_last:whisper:
  logmel:logmel:
"

export HF_HUB_OFFLINE=\${HF_HUB_OFFLINE:-1}  # Whisper tiny.en is local (tools/models)
./emo.sh --corpus ${corpus} --system ${system} --protocol "\${protocol}" --nj 2 \\
  --train_configs "\${train_configs}" --probes "\${probes}" "\$@"
RUN

chmod +x "${dir}/run.sh"

cat > "${dir}/conf/feats.yaml" <<'FEATS'
# Feature dumps of stage 2 (python -m mer.bin.dump_feats --config conf/feats.yaml --name NAME).
whisper:
  feature: hf
  model: whisper-tiny.en          # offline (tools/models); any hub id or local dir works
  layers: all                     # every hidden state: the model learns the layer mix
  whisper_input_seconds: utterance  # each utterance at its own length (30: Whisper's padded window)
  batch_size: 8
logmel:
  feature: logmel
  num_mel_bins: 80
FEATS

cat > "${dir}/conf/tuning/train_audio_mean.yaml" <<'CONF'
# Audio-only model on frozen Whisper tiny.en: every hidden state layer-normalised and mixed with
# learned weights, a frame-wise projection to 256 with GELU, mean pooling with padding masks,
# MemoCMT's classifier head.
model:
  name: audio_only
  variant: improved
  aggregation: mean
  normalize_layers: true
  projection: mlp
  dim: 256
  dropout: 0.2
  head_hidden: 128
inputs: {audio: whisper}
optim: {name: adam, lr: 1.0e-3, weight_decay: 1.0e-4}
scheduler: {name: steplr, step_size: 15, gamma: 0.1}
train:
  epochs: 20
  batch_size: 16
  bucketing: true
  best_metric: ua
  seed: 0
CONF
echo "made ${dir} for ${corpus} (protocol ${protocol}, corpus in \$${variable}): cd ${dir} && ./run.sh"
