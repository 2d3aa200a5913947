#!/usr/bin/env bash
# Make a new recipe that runs at once on a registered corpus (python -m mer.bin.corpora list):
#   egs/TEMPLATE/emo1/setup.sh egs/<corpus>/<system> --corpus NAME [--system memocmt]
# It links emo.sh, path.sh, db.sh, cmd.sh and utils/ to the shared copies (a site's own job settings go in
# a git-ignored cmd_local.sh, its corpus locations in db_local.sh), and writes run.sh (the corpus's
# default protocol; stage 1 is emo.sh's own, which takes the corpus module's options: ./run.sh --help
# lists them), conf/feats.yaml (frozen Whisper tiny.en and base, every layer) and the audio-only
# family chosen on EmoDB (egs/emodb/memocmt) with its grid: three trained configs (conf/tuning/),
# each trained with three seeds, a grid of linear probes on Whisper base (every hidden state x C,
# with and without per-speaker CMVN), and `select` combiners (conf/combine/) that choose among them
# per fold on the fold's validation speakers, so the new corpus gets its own selection. Then:
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
# ${system} on ${corpus} (made by egs/TEMPLATE/emo1/setup.sh): stages 1-6 with frozen-Whisper
# audio-only models beside linear probes, settings chosen per fold on the validation speakers.
# The corpus is where \$${variable} (db.sh) says; its preparation options are run.sh's too
# (./run.sh --help lists them).
#
# Every trained config learns from the fold's training speakers for a fixed number of epochs, every
# probe is fitted on them alone (fit_on=train), and both are decoded on the validation speakers too
# (--test_sets "valid test"); the select_* combiners (conf/combine/) then take, per fold and seed,
# the candidate with the best validation UA and report its test decode: RESULTS.md's select_* rows,
# select_*_seeds over all seeds. The test speakers choose nothing.
set -euo pipefail

protocol=${protocol}   # the corpus's default protocol; --protocol picks another
train_configs="
  conf/tuning/train_audio_mean.yaml
  conf/tuning/train_audio_cmvn.yaml
  conf/tuning/train_audio_base_cmvn.yaml
"
seeds="1 2 3"                 # each trained config once per seed
probe_layers="0 1 2 3 4 5 6"  # Whisper base's hidden states in the probe grid
probe_C="0.1 1 10"            # the probes' inverse regularisation strengths
probes=\$(for k in \${probe_layers}; do for c in \${probe_C}; do
  printf '  sel_base_l%s_c%s:whisper_base:%s:mean+std::C=%s:fit_on=train\\n' "\$k" "\$c" "\$k" "\$c"
  printf '  sel_base_l%s_cmvn_c%s:whisper_base:%s:mean+std:speaker:C=%s:fit_on=train\\n' "\$k" "\$c" "\$k" "\$c"
done; done)
combine_configs="
  conf/combine/select_trained.yaml
  conf/combine/select_probe.yaml
  conf/combine/select_all.yaml
"

export HF_HUB_OFFLINE=\${HF_HUB_OFFLINE:-1}  # Whisper tiny.en and base are local (tools/models)
./emo.sh --corpus ${corpus} --system ${system} --protocol "\${protocol}" --nj 2 --train_nj 2 \\
  --train_configs "\${train_configs}" --seeds "\${seeds}" --test_sets "valid test" \\
  --probes "\${probes}" --combine_configs "\${combine_configs}" "\$@"
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
whisper_base:
  feature: hf
  model: whisper-base             # offline (tools/models)
  layers: all
  whisper_input_seconds: 30       # Whisper's own window (EmoDB: 10 s, its utterances are all shorter)
  batch_size: 8
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
  fit_on: train
  best_metric: last        # the validation speakers choose between configs (select), not epochs
  seed: 0
CONF

# The two per-speaker CMVN configs of egs/emodb/memocmt, learning from the training speakers only.
for variant in "cmvn whisper tiny.en" "base_cmvn whisper_base base"; do
  read -r suffix dump encoder <<< "${variant}"
  cat > "${dir}/conf/tuning/train_audio_${suffix}.yaml" <<CONF
# Audio-only model on frozen Whisper ${encoder} with per-speaker CMVN: every hidden state's dimensions
# normalised over the speaker's own frames (a test speaker's statistics come from its unlabelled
# test utterances: transductive; mer-recognize needs each recording's speaker), a learned layer
# mix, a frame-wise projection to 256 with GELU, mean+std pooling, a linear read-out trained with
# label smoothing 0.1, 20 epochs with cosine decay, the last kept.
model:
  name: audio_only
  variant: improved
  aggregation: mean+std
  normalize_layers: false   # CMVN has normalised every dimension already
  projection: mlp
  dim: 256
  dropout: 0.3
  head_hidden: 0            # a linear read-out of the pooled statistics
  label_smoothing: 0.1
inputs: {audio: {type: dump, name: ${dump}, cmvn: speaker}}
optim: {name: adamw, lr: 1.0e-3, weight_decay: 1.0e-2}
scheduler: {name: cosine, warmup_steps: 30}
train:
  epochs: 20
  batch_size: 16
  bucketing: true
  fit_on: train
  best_metric: last
  seed: 0
CONF
done

mkdir -p "${dir}/conf/combine"
write_select() {  # write_select NAME WHAT CANDIDATES
  printf '# %s, one chosen per fold (and seed) by its UA on the fold'"'"'s validation speakers;\n# the test speakers are never read.\ncombiner:\n  name: select\n  metric: ua\n  selected_on: valid\n  candidates: %s\n' \
    "$2" "$3" > "${dir}/conf/combine/$1.yaml"
}
write_select select_trained "The trained configs" "[train_audio_mean, train_audio_cmvn, train_audio_base_cmvn]"
write_select select_probe "The probe grid (sel_*)" '["probe_sel_*"]'
write_select select_all "The trained configs and the probe grid" \
  '[train_audio_mean, train_audio_cmvn, train_audio_base_cmvn, "probe_sel_*"]'
echo "made ${dir} for ${corpus} (protocol ${protocol}, corpus in \$${variable}): cd ${dir} && ./run.sh"
