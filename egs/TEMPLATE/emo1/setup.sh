#!/usr/bin/env bash
# Make a new recipe folder that shares the stage driver:
#   egs/TEMPLATE/emo1/setup.sh egs/<corpus>/<system>
# Symlinks emo.sh, path.sh, db.sh and utils/ to the shared copies; copies cmd.sh (sites edit it);
# writes a run.sh and local/data.sh to fill in, and an empty conf/.
set -euo pipefail
[ $# -eq 1 ] || { echo "Usage: $0 egs/<corpus>/<system>" >&2; exit 2; }
dir=$1
[ -e "${dir}" ] && { echo "$0: ${dir} exists" >&2; exit 1; }
template=$(cd "$(dirname "$0")" && pwd)
root=$(cd "${template}/../../.." && pwd)
mkdir -p "${dir}/conf/tuning" "${dir}/local"
rel() { python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$1" "$2"; }
for f in emo.sh path.sh db.sh; do ln -s "$(rel "${template}/${f}" "${dir}")" "${dir}/${f}"; done
ln -s "$(rel "${root}/utils" "${dir}")" "${dir}/utils"
cp "${template}/cmd.sh" "${dir}/cmd.sh"
cat > "${dir}/run.sh" <<'RUN'
#!/usr/bin/env bash
set -euo pipefail
train_configs="conf/tuning/train_memocmt_min.yaml"
./emo.sh --corpus CORPUS --system memocmt --protocol PROTOCOL --train_configs "${train_configs}" "$@"
RUN
cat > "${dir}/local/data.sh" <<'DATA'
#!/usr/bin/env bash
# Stage 1: the corpus as distributed -> data/all -> data/<protocol>/fold<k>/{train,valid,test}
set -euo pipefail
. ./path.sh
. ./db.sh
protocol=PROTOCOL
. utils/parse_options.sh
"${MER_PYTHON}" -m mer.bin.prepare_corpus CORPUS --corpus-dir "${CORPUS_VARIABLE}" --out data/all
"${MER_PYTHON}" -m mer.bin.make_protocol CORPUS "${protocol}" data/all "data/${protocol}"
DATA
chmod +x "${dir}/run.sh" "${dir}/local/data.sh"
echo "made ${dir}: edit run.sh and local/data.sh (CORPUS, PROTOCOL), add conf/feats.yaml and conf/tuning/*.yaml"
