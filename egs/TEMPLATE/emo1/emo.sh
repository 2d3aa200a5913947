#!/usr/bin/env bash
# The shared stage driver of every emotion recipe. A recipe's run.sh sets its corpus, protocol,
# feature dumps and training configs and calls this script; every stage can be re-run alone.
#
#   0 download           local/download.sh, where the corpus is open (run it by hand: --stage 0)
#   1 data preparation   data/all and data/<protocol>/fold<k>/{train,valid,test}: the corpus's
#                        preparation with its own options (utils/prepare_data.sh), or the
#                        recipe's local/data.sh where it has one
#   2 feature dumping    every entry of $feats_config, over data/all, to $dumpdir/<name>
#   3 training           every config x fold -> $expdir/<protocol>/<config tag>/fold<k>; a config
#                        whose model.init names another is trained after it (waves)
#   4 inference          decode_<set> per test set: utt2pred, posteriors, embeddings; then the
#                        combiners (systems made from decode dirs or dumps, linear probes among them)
#   5 scoring            scores.json per decode dir, fold aggregates, RESULTS.md
#   6 plots              confusion / ROC / t-SNE per config, pooled over folds, and side by side
#   7 final model        only with --final true: each config trained once on every speaker
#                        (data/all) for the median of the epochs its folds kept, and packed:
#                        $expdir/final/<config tag>/model.tar.gz, a model to ship (RESULTS.md
#                        keeps reporting the folds)
#
# Finished work is kept: dumps skip finished jobs, training resumes from its last checkpoint and
# skips finished runs, inference skips decode dirs that have their meta.json.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR

# shellcheck source=../../../utils/lib/log.sh
. utils/lib/log.sh
# shellcheck source=../../../utils/lib/peek_option.sh
. utils/lib/peek_option.sh
# shellcheck source=../../../utils/lib/claim.sh
. utils/lib/claim.sh
trap release_claims EXIT

stage=1             # first stage to run
stop_stage=6        # last stage to run (7 with --final true)
final=false         # true: stage 7, one model per config on every speaker, packed
nj=4                # parallel jobs for feature dumping
ngpu=0              # GPUs for training and inference (0: CPU); N > 1 runs torchrun with N processes
nproc=0             # training processes (0: max(ngpu, 1)); >1 on CPU runs DDP over gloo
num_nodes=1         # nodes per training (config x fold), each with --ngpu GPUs and --nproc processes:
                    # torchrun agents joined by a c10d rendezvous, through srun in one sbatch
                    # allocation of N nodes on Slurm, or N agents on this machine with the local backend
warm_python=true    # true: while this runs, one Python process holds torch, transformers and scikit-learn
                    # imported and forks each `python -m mer.bin.<tool>` of the stages (mer/warm/):
                    # seconds saved per command, each still its own process; off with --ngpu > 0
train_nj=1          # trainings (config x fold) at once, each with --ngpu GPUs of its own (cuda_cmd);
                    # stage 4's inference runs as many at once
corpus=             # corpus name for stage 1 and the results (python -m mer.bin.corpora list)
protocol=           # evaluation protocol: data/<protocol>/fold<k>
folds=              # folds to run, e.g. "1 3" (default: every data/<protocol>/fold*)
feats_config=conf/feats.yaml   # named feature dumps for stage 2
train_configs=      # training configs (conf/tuning/*.yaml), space-separated
train_args=         # overrides for every config, e.g. "train.epochs=3 optim.lr=5e-4"
seeds=              # e.g. "1 2 3": every config trained once per seed (override train.seed=N, exp tag
                    # <tag>_train.seedN); a combiner config that names a trained config runs once per
                    # seed too (<name>_seedN, on that seed's runs); stage 5 adds <name>_seeds, the
                    # runs of all seeds as one result (mean ± std over fold x seed)
refit=false         # true: every trained config and probe also gets a refit twin, <name>_refit: the same
                    # settings fitted on train+valid (train.fit_on=train+valid train.best_metric=last;
                    # a probe's fit_on=train+valid), which a select combiner with `refit: true` reports
                    # for the candidate it chose on the validation speakers (mer/combine/select.py)
test_sets="test"    # sets to decode and score, e.g. "valid test"
infer_args=         # input overrides at inference for the trained configs, e.g. "inputs.text.dump=asr"
                    # (trained on reference transcripts, tested on ASR hypotheses)
infer_tag=          # names them: decode_<set>_<infer_tag>, scored and plotted as test set
                    # <set>_<infer_tag> (default with infer_args: derived from them)
dumpdir=dump        # feature dumps
expdir=exp          # experiments
system=             # system name recorded with the results (e.g. memocmt)
tolerate_failures=false  # true: utterances whose features fail are dropped from data/ (listed in dump/*/failed)
skip_space_check=false   # true: stage 2 dumps even when $dumpdir's disk looks too small for the dumps
local_data_opts=    # options of the recipe's local/data.sh (only a recipe that has one)
combine_configs=    # combiners run in stage 4 after inference (conf/combine/*.yaml, `combiner:` block),
                    # scored and plotted like trained configs; results in $expdir/<protocol>/<file stem>
probes=             # shorthand for linear-probe combiners: NAME:DUMP:LAYER[:POOL[:CMVN[:KEY=VALUE...]]],
                    # e.g. "whisper_l2:whisper:2 minilm_l4:minilm:4:mean" (empty LAYER: the last;
                    # POOL: mean+std (default) or mean; CMVN: speaker or utterance, the frames
                    # normalised first; KEY=VALUE: other settings, e.g. :C=0.1:fit_on=train);
                    # results in $expdir/<protocol>/probe_NAME
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [options]   (stages: 0 download, 1 data, 2 features, 3 train, 4 inference, 5 scoring, 6 plots, 7 final model with --final true)"

# The corpus's own options (its module's add_arguments: --label_set, --text_only, ...) are options
# here too, each a variable with the corpus's default; stage 1 passes on the ones set otherwise.
# corpus_options: their names in the module's order; corpus_option[name]: the prepare_corpus option;
# corpus_option_default[name]; corpus_flags: names of the options that take no value (true adds it).
corpus_options=()
declare -A corpus_option=() corpus_option_default=() corpus_flags=()
declare_corpus_options() {  # ARGS: emo.sh's command line; locals start with _, no option does
  local _corpus _table _name _option _kind _default _help
  _corpus=$(peek_option corpus "" "$@")
  [ -n "${_corpus}" ] || return 0
  # shellcheck source=../../../utils/lib/python.sh
  . utils/lib/python.sh
  _table=$("${MER_PYTHON}" -m mer.bin.corpora options "${_corpus}") || die --code 2 "--corpus ${_corpus}: see above"
  [ -n "${_table}" ] || return 0
  help_message+=$'\n\n'"Options of the corpus ${_corpus} (stage 1; python -m mer.bin.prepare_corpus ${_corpus} --help):"
  while IFS=$'\037' read -r _name _option _kind _default _help; do  # \037: empty fields stay fields
    [ -z "${!_name+set}" ] || die --code 2 "the option ${_option} of the corpus ${_corpus} is also an option" \
      "of $0 (--${_name}): rename it in the corpus module"
    printf -v "${_name}" '%s' "${_default}"
    corpus_options+=("${_name}")
    corpus_option[${_name}]=${_option}
    corpus_option_default[${_name}]=${_default}
    if [ "${_kind}" = flag ]; then corpus_flags[${_name}]=1; fi
    help_message+=$'\n'"  --${_name} ${_default:-\"\"}  # ${_help}"
  done < <(tr '\t' '\037' <<< "${_table}")
}
declare_corpus_options "$@"

log "$0 $*"
. utils/parse_options.sh
[ $# -eq 0 ] || die --code 2 "unexpected arguments: $*"
[ -n "${protocol}" ] || die --code 2 "--protocol is required"
# --refit true: the twins, as `<config>@refit` entries of the training configs and `<name>_refit`
# probes (mer.combine.select.REFIT_SUFFIX); config_file and config_name read an entry.
refit_args="train.fit_on=train+valid train.best_metric=last"
if [ "${refit}" = true ]; then
  for c in ${train_configs}; do train_configs+=" ${c}@refit"; done
  twins=
  for spec in ${probes}; do
    IFS=: read -r name dump layer pool cmvn more <<< "${spec}"
    twins+=" ${name}_refit:${dump}:${layer}:${pool}:${cmvn}:${more:+${more}:}fit_on=train+valid"
  done
  probes+=${twins}
fi

. ./path.sh
. ./cmd.sh
# shellcheck disable=SC2154  # feats_cmd, cuda_cmd, decode_cmd come from cmd.sh
: "${feats_cmd:?cmd.sh must set feats_cmd}" "${cuda_cmd:?}" "${decode_cmd:?}"

[ "${nproc}" -gt 0 ] || nproc=$(( ngpu > 1 ? ngpu : 1 ))
# The warm interpreter (mer/warm/): commands started before it is ready, or with an environment it
# was not imported under, run cold. Not with GPUs: CUDA cannot start in a child forked after the
# parent touched it, and GPU jobs are long. A recipe run inside another's keeps the outer server.
warm_dir=
warm_pid=
start_warm_python() {
  [ "${warm_python}" = true ] && [ "${ngpu}" -eq 0 ] && [ -z "${MER_WARM_SOCKET:-}" ] || return 0
  warm_dir=$(mktemp -d "${TMPDIR:-/tmp}/mer-warm.XXXXXX")
  "${MER_PYTHON}" -m mer.warm.server "${warm_dir}/socket" 2> "${warm_dir}/server.log" &
  warm_pid=$!
  export MER_PYTHON_COLD=${MER_PYTHON} MER_WARM_SOCKET=${warm_dir}/socket
  export MER_PYTHON=${MER_ROOT}/utils/lib/warm_python
}
stop_warm_python() {
  [ -n "${warm_dir}" ] || return 0
  kill "${warm_pid}" 2>/dev/null || true
  rm -rf "${warm_dir}"
}
trap 'release_claims; stop_warm_python' EXIT
start_warm_python
device=cpu
[ "${ngpu}" -gt 0 ] && device=cuda
read -r -a base_overrides <<< "${train_args}"
read -r -a refit_overrides <<< "${refit_args}"
overrides=(${base_overrides[@]+"${base_overrides[@]}"})
seed_runs=${seeds:-none}  # none: one run with each config's own train.seed
seed=none                 # the seed whose runs config_tag names (use_seed)
read -r -a infer_overrides <<< "${infer_args}"
if [ -n "${infer_args}" ] && [ -z "${infer_tag}" ]; then
  infer_tag=$(printf '%s' "${infer_args}" | tr -cs 'A-Za-z0-9.+-' '_')
fi

fold_dirs() {
  if [ -n "${folds}" ]; then
    for k in ${folds}; do echo "data/${protocol}/fold${k}"; done
  else
    find "data/${protocol}" -maxdepth 1 -name 'fold*' -type d | sort -V
  fi
}

# Stages 3 and 4 with --train_nj N > 1 run one job array (N jobs at a time) instead of one command
# after another. new_jobs DIR: an empty job dir; queue_or_run DIR CMD GPUS LOG WHAT COMMAND...:
# COMMAND now through cmd.sh's CMD with its output in LOG, or with N > 1 added to the array by
# add_job DIR LOG COMMAND... (its output in LOG, the OMP threads shared out between the N jobs; on
# failure, the log's tail); run_jobs DIR CMD GPUS WHAT: the array, through CMD (its backend assigns
# GPUS per job). new_jobs and run_jobs do nothing with N = 1.
own_jobs_dir() {  # this run's own job dir for stage KIND's array, kept with its logs (none with N = 1)
  [ "${train_nj}" -gt 1 ] || return 0
  mkdir -p "${expdir}/${protocol}"
  mktemp -d "${expdir}/${protocol}/.$1_jobs.XXXXXX"
}
new_jobs() {
  [ "${train_nj}" -gt 1 ] || return 0
  rm -rf "$1"
  mkdir -p "$1/log"
}
queue_or_run() {
  local dir=$1 cmd=$2 gpus=$3 out=$4 what=$5
  shift 5
  if [ "${train_nj}" -gt 1 ]; then
    add_job "${dir}" "${out}" "$@"
  else
    log "${what}"
    ${cmd} --gpu "${gpus}" "${out}" "$@"
  fi
}
add_job() {
  local dir=$1 log=$2 n; shift 2
  n=$(( $(find "${dir}" -maxdepth 1 -name 'job.*.sh' | wc -l) + 1 ))
  {
    echo "#!/usr/bin/env bash"
    printf 'export OMP_NUM_THREADS=%d\n' "$(( OMP_NUM_THREADS / train_nj > 1 ? OMP_NUM_THREADS / train_nj : 1 ))"
    printf 'mkdir -p %q\n' "$(dirname "${log}")"
    printf '%q ' "$@"
    printf '> %q 2>&1 || { rc=$?; tail -n 20 %q; echo "failed (exit $rc): %s"; exit "$rc"; }\n' \
      "${log}" "${log}" "${log}"
  } > "${dir}/job.${n}.sh"
}
run_jobs() {
  local dir=$1 cmd=$2 gpus=$3 what=$4 n
  [ "${train_nj}" -gt 1 ] || return 0
  n=$(find "${dir}" -maxdepth 1 -name 'job.*.sh' | wc -l)
  [ "${n}" -gt 0 ] || return 0
  log "${what}: ${n} jobs, ${train_nj} at a time (each one's log in its exp dir; the array's in ${dir}/log)"
  ${cmd} --gpu "${gpus}" --max-jobs-run "${train_nj}" JOB=1:"${n}" "${dir}/log/job.JOB.log" bash "${dir}/job.JOB.sh"
}

# The experiment tag of each training config (file stem + overrides) per seed, worked out once per
# run by one Python call per seed that also checks every config; stages 3-7 read it from
# config_tags["SEED CONFIG"]. config_deps: the tags of the runs its `model.init` starts from
# (mer.train.init_from), trained before it.
declare -A config_tags=() config_deps=()
load_config_tags() {
  local configs=() files=() lines=() out i c s twin
  for twin in false true; do  # the configs, then their refit twins (--refit true)
    configs=() files=()
    for c in ${train_configs}; do
      if is_twin "$c"; then [ "${twin}" = true ] || continue; else [ "${twin}" = false ] || continue; fi
      configs+=("$c") files+=("$(config_file "$c")")
    done
    [ "${#configs[@]}" -gt 0 ] || continue
    for s in ${seed_runs}; do
      use_seed "$s"
      entry_overrides "${configs[0]}"
      out=$("${MER_PYTHON}" -m mer.bin.exp_tag --with-init "${files[@]}" ${entry_args[@]+"${entry_args[@]}"})
      mapfile -t lines <<< "${out}"
      for i in "${!configs[@]}"; do
        config_tags["$s ${configs[$i]}"]=${lines[$i]%%$'\t'*}
        config_deps["$s ${configs[$i]}"]=${lines[$i]#*$'\t'}
      done
    done
  done
}
use_seed() {  # use_seed SEED|none: the overrides and tags of that seed's runs from now on
  seed=$1
  overrides=(${base_overrides[@]+"${base_overrides[@]}"})
  [ "${seed}" = none ] || overrides+=("train.seed=${seed}")
}
# entry_overrides CONFIG: entry_args, the overrides of a training config entry for the seed being
# run: a refit twin's come between --train_args and the seed (so the tag still ends in the seed).
entry_args=()
entry_overrides() {
  entry_args=(${base_overrides[@]+"${base_overrides[@]}"})
  ! is_twin "$1" || entry_args+=("${refit_overrides[@]}")
  [ "${seed}" = none ] || entry_args+=("train.seed=${seed}")
}
is_twin() {  # whether a training config entry is a refit twin (`<config>@refit`)
  [ "$1" != "${1%@refit}" ]
}
config_file() {  # the YAML of a training config entry
  echo "${1%@refit}"
}
config_name() {  # the name combiners know a training config entry by: its file stem, + _refit for a twin
  local name
  name=$(basename "${1%@refit}" .yaml)
  ! is_twin "$1" || name+=_refit
  echo "${name}"
}
seed_suffix() {  # a per-seed combiner's name suffix
  [ "${seed}" = none ] || echo "_seed${seed}"
}
config_tag() {
  echo "${config_tags["${seed} $1"]:?no experiment tag for $1}"
}
config_deps_of() {
  echo "${config_deps["${seed} $1"]:-}"
}
# Whether the combiner config $1 names one of the trained configs (then it runs once per seed).
names_trained() {
  local c words=()
  for c in ${train_configs}; do words+=(-e "$(config_name "$c")"); done
  [ "${#words[@]}" -gt 0 ] && grep -qwF "${words[@]}" "$1"
}

# waves: the training configs in waves, one string per wave: a config whose model.init names another
# config of this run comes in a later wave than it, so with --train_nj N the first finishes before
# the second starts (each wave is one job array). A cycle is an error.
waves=()
training_waves() {
  local -A wave_of=() config_of=()
  local c d w max left=1 progress
  for c in ${train_configs}; do config_of[$(config_tag "$c")]=$c; done
  while [ "${left}" -gt 0 ]; do
    left=0 progress=0
    for c in ${train_configs}; do
      [ -n "${wave_of[$c]:-}" ] && continue
      max=0
      for d in $(config_deps_of "$c"); do
        [ -n "${config_of[$d]:-}" ] || continue  # trained earlier (checked per fold in stage 3)
        w=${wave_of[${config_of[$d]}]:-}
        if [ -z "$w" ]; then max=-1; break; fi
        [ "$w" -gt "${max}" ] && max=$w
      done
      if [ "${max}" -lt 0 ]; then left=$(( left + 1 )); continue; fi
      wave_of[$c]=$(( max + 1 ))
      progress=1
    done
    [ "${left}" -eq 0 ] || [ "${progress}" -eq 1 ] || die "model.init of the configs forms a cycle: ${train_configs}"
  done
  max=0
  for c in ${train_configs}; do [ "${wave_of[$c]}" -gt "${max}" ] && max=${wave_of[$c]}; done
  waves=()
  for (( w = 1; w <= max; w++ )); do
    d=
    for c in ${train_configs}; do [ "${wave_of[$c]}" -eq "$w" ] && d+="$c "; done
    waves+=("${d% }")
  done
}

# Every system whose results stages 5 and 6 collect: the trained configs, then the combiners.
trained_dirs() {
  local s
  for s in ${seed_runs}; do
    use_seed "$s"
    for config in ${train_configs}; do echo "${expdir}/${protocol}/$(config_tag "${config}")"; done
  done
}
combined_dirs() {
  local s
  for spec in ${probes}; do echo "${expdir}/${protocol}/probe_${spec%%:*}"; done
  for config in ${combine_configs}; do combiner_dirs "${config}"; done
}
# The exp dirs of the combiner config $1: one per seed when it names a trained config.
combiner_dirs() {
  local s
  if names_trained "$1"; then
    for s in ${seed_runs}; do use_seed "$s"; echo "${expdir}/${protocol}/$(basename "$1" .yaml)$(seed_suffix)"; done
  else
    echo "${expdir}/${protocol}/$(basename "$1" .yaml)"
  fi
}
# Stage 5 with two or more --seeds: OUT_DIR<TAB>RUN_DIR... per system run once per seed
# (mer.scoring.seeds)
seed_groups() {
  local s line config dirs
  [ "$(wc -w <<< "${seeds}")" -gt 1 ] || return 0
  for config in ${train_configs}; do
    line=
    for s in ${seed_runs}; do use_seed "$s"; line+=$'\t'"${expdir}/${protocol}/$(config_tag "${config}")"; done
    use_seed "${seed_runs%% *}"
    echo "${expdir}/${protocol}/$(config_tag "${config}" | sed 's/_train\.seed[0-9]*$//')_seeds${line}"
  done
  for config in ${combine_configs}; do
    names_trained "${config}" || continue
    printf '%s' "${expdir}/${protocol}/$(basename "${config}" .yaml)_seeds"
    mapfile -t dirs < <(combiner_dirs "${config}")
    printf '\t%s' "${dirs[@]}"
    echo
  done
}

# The name a test set's decode dirs and scores of the trained configs carry (with --infer_tag:
# <set>_<tag>); combiners decode the plain sets.
decode_name() {
  echo "$1${infer_tag:+_${infer_tag}}"
}

# combine NAME OPTIONS...: a combiner's line of stage 4's plan: its own options, and where each
# trained config it may name lives now (the seed being run: use_seed), shell-quoted.
# run_combiners runs the plan: every combiner in one Python process, in order (mer.bin.combine --plan).
combine_plan=()
combine() {
  local name=$1 dir_args=() config spec; shift
  # combiner configs name trained systems by config name; their exp dirs carry --train_args
  for config in ${train_configs}; do
    dir_args+=(--system-dir "$(config_name "${config}")=$(config_tag "${config}")")
  done
  for spec in ${probes}; do  # declared too, so a combiner may name them by a pattern (select)
    dir_args+=(--system-dir "probe_${spec%%:*}=probe_${spec%%:*}")
  done
  combine_plan+=("$(printf '%q ' "$@" ${dir_args[@]+"${dir_args[@]}"} --out "${expdir}/${protocol}/${name}")")
}
run_combiners() {
  [ "${#combine_plan[@]}" -gt 0 ] || return 0
  log "Stage 4: ${#combine_plan[@]} combiner(s): $(printf '%s\n' "${combine_plan[@]}" | sed 's/.*--out [^ ]*\///' | tr '\n' ' ')"
  local fold_args=()
  [ -n "${folds}" ] && read -r -a fold_args <<< "--folds ${folds}"
  # shellcheck disable=SC2086  # test_sets is a word list
  printf '%s\n' "${combine_plan[@]}" |
    "${MER_PYTHON}" -m mer.bin.combine --plan - --protocol-dir "data/${protocol}" --exp-root "${expdir}/${protocol}" \
      --dumpdir "${dumpdir}" --test-sets ${test_sets} --corpus "${corpus}" ${fold_args[@]+"${fold_args[@]}"}
}

# The time of each stage, printed at the end.
stage_times=()
current_stage=
current_start=${SECONDS}
mark_stage() {  # mark_stage N: stage N starts now (and the one before it ends)
  [ -n "${current_stage}" ] && stage_times+=("${current_stage} $(( SECONDS - current_start )) s")
  current_stage=$1
  current_start=${SECONDS}
}

# ------------------------------------------------------------------ 0 download
if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
  mark_stage 0
  if [ -x local/download.sh ]; then
    log "Stage 0: download (local/download.sh)"
    local/download.sh
  else
    log "Stage 0: this recipe's corpus is not open: put it where db.sh says"
  fi
fi

# ------------------------------------------------------------------ 1 data preparation
if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  mark_stage 1
  prepare_args=()  # the corpus options set to something other than their default
  for name in ${corpus_options[@]+"${corpus_options[@]}"}; do
    [ "${!name}" = "${corpus_option_default[${name}]}" ] && continue
    if [ -n "${corpus_flags[${name}]:-}" ]; then
      prepare_args+=("${corpus_option[${name}]}")  # a flag: set means true
    else
      prepare_args+=("${corpus_option[${name}]}" "${!name}")
    fi
  done
  if [ -x local/data.sh ]; then
    log "Stage 1: data preparation (local/data.sh ${local_data_opts} -- ${prepare_args[*]})"
    # shellcheck disable=SC2086  # options are word-split on purpose
    local/data.sh --protocol "${protocol}" ${local_data_opts} -- ${prepare_args[@]+"${prepare_args[@]}"}
  else
    [ -z "${local_data_opts}" ] || die --code 2 "--local_data_opts: this recipe has no local/data.sh; give" \
      "the corpus's options to run.sh itself (./run.sh --help lists them)"
    [ -n "${corpus}" ] || die --code 2 "--corpus is required for stage 1 (this recipe has no local/data.sh)"
    log "Stage 1: data preparation (utils/prepare_data.sh ${corpus} ${protocol} ${prepare_args[*]})"
    utils/prepare_data.sh "${corpus}" "${protocol}" ${prepare_args[@]+"${prepare_args[@]}"}
  fi
  no_wav=()
  [ -f data/all/wav.scp ] || no_wav=(--no-wav)  # a text-only corpus (MELD's CSVs alone)
  utils/validate_data_dir.sh ${no_wav[@]+"${no_wav[@]}"} data/all
fi

# ------------------------------------------------------------------ 2 feature dumping
if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
  mark_stage 2
  log "Stage 2: feature dumping (${feats_config})"
  # Every dump's expected size, summed against the free space of the dump disk, before any starts;
  # the dumps themselves then skip the check (it is this one, per dump).
  space_opts=()
  "${skip_space_check}" && space_opts=(--skip-space-check)
  "${MER_PYTHON}" -m mer.bin.check_dump_space --config "${feats_config}" ${space_opts[@]+"${space_opts[@]}"} \
    data/all "${dumpdir}" || die "Stage 2: not enough disk space for the dumps (see above)"
  for name in $("${MER_PYTHON}" -m mer.bin.dump_feats --config "${feats_config}" --list); do
    log "dump ${name} -> ${dumpdir}/${name}"
    tolerate=()
    "${tolerate_failures}" && tolerate=(--tolerate-failures)
    "${MER_PYTHON}" -m mer.bin.dump_feats --config "${feats_config}" --name "${name}" --nj "${nj}" \
      --cmd "${feats_cmd}" --skip-space-check ${tolerate[@]+"${tolerate[@]}"} data/all "${dumpdir}/${name}"
    if "${tolerate_failures}" && [ -s "${dumpdir}/${name}/failed" ]; then
      log "dropping $(wc -l < "${dumpdir}/${name}/failed") failed utterance(s) from every data dir"
      find data -name utt2spk -not -path '*/split*' -not -path '*/.backup/*' -print0 |
        while IFS= read -r -d '' f; do
          utils/fix_data_dir.sh --exclude "${dumpdir}/${name}/failed" "$(dirname "$f")" >/dev/null
        done
    fi
  done
fi

if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 3 ]; then
  load_config_tags
fi

# ------------------------------------------------------------------ 3 training
# train_config CONFIG: every fold of CONFIG not yet trained, at once or (--train_nj > 1) as jobs
train_config() {
  local config=$1 tag launcher labels override_args fold_dir fold exp dep train args=${train_args}
  tag=$(config_tag "${config}")
  mkdir -p "${expdir}/${protocol}/${tag}"
  # A replay script, so a long command line is never lost (ESPnet's exp/*/run.sh).
  ! is_twin "${config}" || args+="${args:+ }${refit_args}"
  printf '#!/usr/bin/env bash\ncd %q && ./run.sh --stage 3 --train_configs %q --train_args %q --seeds %q %s\n' \
    "${PWD}" "$(config_file "${config}")" "${args}" "${seed#none}" "\"\$@\"" > "${expdir}/${protocol}/${tag}/run.sh"
  chmod +x "${expdir}/${protocol}/${tag}/run.sh"
  launcher=("${MER_PYTHON}" -m mer.bin.train)
  if [ "${num_nodes}" -gt 1 ]; then
    launcher=("${MER_PYTHON}" -m mer.bin.train_nodes --nnodes "${num_nodes}" --nproc-per-node "${nproc}"
              --gpus-per-node "${ngpu}" -- )
  elif [ "${nproc}" -gt 1 ]; then
    launcher=("${MER_PYTHON}" -m torch.distributed.run --standalone --nproc_per_node "${nproc}"
              -m mer.bin.train)
  fi
  labels=()
  [ -f data/all/labels ] && labels=(--labels data/all/labels)
  override_args=()
  entry_overrides "${config}"
  for o in ${entry_args[@]+"${entry_args[@]}"}; do override_args+=(--override "$o"); done
  for fold_dir in $(fold_dirs); do
    fold=$(basename "${fold_dir}")
    exp="${expdir}/${protocol}/${tag}/${fold}"
    if [ -f "${exp}/train_summary.json" ]; then
      log "Stage 3: ${exp} already trained, skipping"
      continue
    fi
    # A second run of this stage stops here, before it opens the first one's log
    claim_dir "${exp}" "Stage 3: training ${exp}" || die "Stage 3: refused: ${exp} is being trained by another run"
    for dep in $(config_deps_of "${config}"); do  # model.init: trained in an earlier wave, or before
      [ -f "${expdir}/${protocol}/${dep}/${fold}/train_summary.json" ] || run_tags | grep -qxF "${dep}" ||
        die "${config} starts from ${dep} (model.init), which is neither trained for ${fold} nor among" \
            "--train_configs: train it first"
    done
    train=("${launcher[@]}" --config "$(config_file "${config}")" --train-dir "${fold_dir}/train"
           --valid-dir "${fold_dir}/valid" --dumpdir "${dumpdir}" --exp-dir "${exp}" --device "${device}"
           ${labels[@]+"${labels[@]}"} ${override_args[@]+"${override_args[@]}"})
    queue_or_run "${jobs_dir}" "${train_job_cmd}" "${ngpu}" "${exp}/log/train.log" \
      "Stage 3: training ${tag} on ${fold_dir} -> ${exp}" "${train[@]}"
  done
}
run_tags() {
  for c in ${train_configs}; do config_tag "$c"; done
}

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
  mark_stage 3
  [ -n "${train_configs}" ] || die "--train_configs is empty"
  jobs_dir=$(own_jobs_dir train)
  train_job_cmd=${cuda_cmd}  # each training job: one allocation of --num_nodes nodes, --ngpu GPUs each
  [ "${num_nodes}" -gt 1 ] && train_job_cmd+=" --num-nodes ${num_nodes}"
  for s in ${seed_runs}; do
    use_seed "$s"
    [ "${seed}" = none ] || log "Stage 3: seed ${seed}"
    training_waves
    [ "${#waves[@]}" -le 1 ] || log "Stage 3: ${#waves[@]} waves, each after the one it starts from (model.init):" \
      "$(printf '[%s] ' "${waves[@]}")"
    for wave in "${waves[@]}"; do  # one job array per wave: a wave starts when the one before has finished
      new_jobs "${jobs_dir}"
      for config in ${wave}; do train_config "${config}"; done
      run_jobs "${jobs_dir}" "${train_job_cmd}" "${ngpu}" "Stage 3: training (config x fold)"
    done
  done
  release_claims
fi

# ------------------------------------------------------------------ 4 inference
if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
  mark_stage 4
  jobs_dir=$(own_jobs_dir infer)
  new_jobs "${jobs_dir}"
  for s in ${seed_runs}; do
    use_seed "$s"
    for config in ${train_configs}; do
      tag=$(config_tag "${config}")
      for fold_dir in $(fold_dirs); do
        fold=$(basename "${fold_dir}")
        exp="${expdir}/${protocol}/${tag}/${fold}"
        for set in ${test_sets}; do
          name=$(decode_name "${set}")
          out="${exp}/decode_${name}"
          [ -f "${out}/meta.json" ] && continue
          infer_opts=()
          for o in ${infer_overrides[@]+"${infer_overrides[@]}"}; do infer_opts+=(--override "$o"); done
          infer=("${MER_PYTHON}" -m mer.bin.infer --exp-dir "${exp}" --data-dir "${fold_dir}/${set}"
                 --dumpdir "${dumpdir}" --out "${out}" --device "${device}" --protocol "${protocol}"
                 --fold "${fold#fold}" --test-set "${name}" --corpus "${corpus}" --system "${system}"
                 ${infer_opts[@]+"${infer_opts[@]}"})
          queue_or_run "${jobs_dir}" "${decode_cmd}" "$(( ngpu > 0 ? 1 : 0 ))" "${out}/log/infer.log" \
            "Stage 4: inference ${exp} on ${fold_dir}/${set}${infer_args:+ with ${infer_args}}" "${infer[@]}"
        done
      done
    done
  done
  run_jobs "${jobs_dir}" "${decode_cmd}" "$(( ngpu > 0 ? 1 : 0 ))" "Stage 4: inference (config x fold x set)"
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
  for spec in ${probes}; do
    IFS=: read -r name dump layer pool cmvn more <<< "${spec}"
    sets=()  # KEY=VALUE fields after CMVN: more settings of the probe (C=0.1:fit_on=train)
    [ -z "${more}" ] || for kv in ${more//:/ }; do sets+=(--set "${kv}"); done
    combine "probe_${name}" --name linear_probe --set "dump=${dump}" ${layer:+--set "layer=${layer}"} \
      --set "pool=${pool:-mean+std}" ${cmvn:+--set "cmvn=${cmvn}"} ${sets[@]+"${sets[@]}"}
  done
  for config in ${combine_configs}; do
    if names_trained "${config}"; then
      for s in ${seed_runs}; do
        use_seed "$s"
        combine "$(basename "${config}" .yaml)$(seed_suffix)" --config "${config}"
      done
    else
      combine "$(basename "${config}" .yaml)" --config "${config}"
    fi
  done
  run_combiners
fi

# ------------------------------------------------------------------ 5 scoring
if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
  mark_stage 5
  log "Stage 5: scoring"
  n_folds=$(fold_dirs | wc -l)
  mapfile -t names < <(for set in ${test_sets}; do decode_name "${set}"; done)
  mapfile -t trained < <(trained_dirs)
  mapfile -t combined < <(combined_dirs)
  decode_dirs=()
  for fold_dir in $(fold_dirs); do
    fold=$(basename "${fold_dir}")
    for d in ${trained[@]+"${trained[@]}"}; do
      for name in "${names[@]}"; do decode_dirs+=("${d}/${fold}/decode_${name}"); done
    done
    for d in ${combined[@]+"${combined[@]}"}; do
      for set in ${test_sets}; do decode_dirs+=("${d}/${fold}/decode_${set}"); done
    done
  done
  # One process each for every fold of every system (a Python start per decode dir costs minutes).
  "${MER_PYTHON}" -m mer.bin.score "${decode_dirs[@]}"
  if [ "${#trained[@]}" -gt 0 ]; then
    "${MER_PYTHON}" -m mer.bin.aggregate_scores "${trained[@]}" --test-set "${names[@]}" \
      --expected-folds "${n_folds}"
  fi
  if [ "${#combined[@]}" -gt 0 ]; then
    # shellcheck disable=SC2086  # test_sets is a word list
    "${MER_PYTHON}" -m mer.bin.aggregate_scores "${combined[@]}" --test-set ${test_sets} \
      --expected-folds "${n_folds}"
  fi
  groups=$(seed_groups)
  if [ -n "${groups}" ]; then
    "${MER_PYTHON}" -m mer.bin.aggregate_scores --over-seeds - --test-set "${names[@]}" \
      --expected-folds "${n_folds}" <<< "${groups}"
  fi
  "${MER_PYTHON}" -m mer.bin.make_results . --exp "${expdir}" --out RESULTS.md
  "${MER_PYTHON}" -m mer.bin.report . --exp "${expdir}" --out report.html
  log "results: ${PWD}/RESULTS.md"
fi

# ------------------------------------------------------------------ 6 plots
if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
  mark_stage 6
  log "Stage 6: plots (from saved outputs only)"
  mapfile -t trained < <(trained_dirs)
  mapfile -t combined < <(combined_dirs)
  # One process draws every figure set (a Python start and the plotting imports cost more than a
  # system's figures); a plan line: test set, out dir, the exp dirs pooled (mer.plots.plan).
  plan=()
  for set in ${test_sets}; do
    name=$(decode_name "${set}")
    config_dirs=(${trained[@]+"${trained[@]}"})
    # combiners decode the plain set: beside the trained configs only when no --infer_tag renames it
    [ "${name}" = "${set}" ] && config_dirs+=(${combined[@]+"${combined[@]}"})
    for d in ${trained[@]+"${trained[@]}"}; do plan+=("${name}"$'\t'"$d/plots"$'\t'"$d"); done
    for d in ${combined[@]+"${combined[@]}"}; do plan+=("${set}"$'\t'"$d/plots"$'\t'"$d"); done
    if [ "${#config_dirs[@]}" -gt 1 ]; then
      plan+=("${name}"$'\t'"${expdir}/${protocol}/plots_${name}$(printf '\t%s' "${config_dirs[@]}")")
    fi
  done
  [ "${#plan[@]}" -eq 0 ] || printf '%s\n' "${plan[@]}" | "${MER_PYTHON}" -m mer.bin.plot --plan -
  "${MER_PYTHON}" -m mer.bin.report . --exp "${expdir}" --out report.html  # again, with the figures
  log "plots: ${PWD}/${expdir}/${protocol}/plots_* and ${PWD}/${expdir}/${protocol}/*/plots"
fi
# ------------------------------------------------------------------ 7 final model
if [ "${final}" = true ] && [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
  mark_stage 7
  labels=()
  [ -f data/all/labels ] && labels=(--labels data/all/labels)
  # A validation set is still read (from the first fold): it is inside the training data, and the
  # training log says so; nothing is chosen on it (best_metric last).
  valid="$(fold_dirs | head -n 1)/valid"
  use_seed "${seed_runs%% *}"  # with --seeds: the first seed's folds and seed
  for config in ${train_configs}; do
    ! is_twin "${config}" || continue  # a refit twin: the final model is one of all
    tag=$(config_tag "${config}")
    exp="${expdir}/final/${tag}"
    if [ -f "${exp}/model.tar.gz" ]; then
      log "Stage 7: ${exp}/model.tar.gz exists, skipping"
      continue
    fi
    [ -z "$(config_deps_of "${config}")" ] ||
      die "Stage 7: ${config} starts from $(config_deps_of "${config}") (model.init): a final model of it is not supported yet"
    epochs=$("${MER_PYTHON}" -m mer.bin.final_epochs "${expdir}/${protocol}/${tag}") ||
      die "Stage 7: ${tag}: no epochs to take from the folds (see above)"
    override_args=()
    for o in ${overrides[@]+"${overrides[@]}"} "train.epochs=${epochs}" "train.best_metric=last"; do
      override_args+=(--override "$o")
    done
    ${cuda_cmd} --gpu "${ngpu}" "${exp}/log/train.log" \
      "${MER_PYTHON}" -m mer.bin.train --config "${config}" --train-dir data/all --valid-dir "${valid}" \
      --dumpdir "${dumpdir}" --exp-dir "${exp}" --device "${device}" ${labels[@]+"${labels[@]}"} \
      "${override_args[@]}"
    "${MER_PYTHON}" -m mer.bin.pack --dumpdir "${dumpdir}" "${exp}" "${exp}/model.tar.gz"
    log "Stage 7: ${tag} trained on every speaker for ${epochs} epoch(s): ${exp}/model.tar.gz"
  done
fi
mark_stage ""
[ "${#stage_times[@]}" -eq 0 ] || log "time per stage: $(IFS=,; echo "${stage_times[*]}" | sed 's/,/, /g')"
log "Successfully finished stages ${stage}-${stop_stage}"
