# shellcheck shell=bash
# Where jobs run. Pick a backend; each takes Kaldi's run.pl options
# ([--gpu N] [--mem M] [--num-threads N] [--time T] [--max-jobs-run K] [JOB=1:N] LOG COMMAND...).
#   local: processes on this machine (default)
#   slurm: sbatch array jobs; flags mapped by conf/slurm.conf if present, else utils/conf/slurm.conf
# Every recipe links this one file. The backend is MER_CMD_BACKEND from the environment
# (export MER_CMD_BACKEND=slurm). A site or a recipe changes the rest without editing this file:
# cmd_local.sh beside run.sh, else cmd_local.sh at the top of the repository (both git-ignored), is
# read after the defaults below and may set any of the four *_cmd variables, e.g.
#   cuda_cmd="utils/slurm_cmd.sh --mem 32G --time 24:00:00"
cmd_backend=${MER_CMD_BACKEND:-local}

case "${cmd_backend}" in
  local)
    feats_cmd="utils/local_cmd.sh"
    train_cmd="utils/local_cmd.sh"
    cuda_cmd="utils/local_cmd.sh"
    decode_cmd="utils/local_cmd.sh"
    ;;
  slurm)
    feats_cmd="utils/slurm_cmd.sh --mem 4G"
    train_cmd="utils/slurm_cmd.sh --mem 4G"
    cuda_cmd="utils/slurm_cmd.sh --mem 8G"
    decode_cmd="utils/slurm_cmd.sh --mem 4G"
    ;;
  *) echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (local or slurm)" >&2; return 1 ;;
esac
if [ -f cmd_local.sh ]; then
  # shellcheck disable=SC1091  # a site's file, not in the repository
  . ./cmd_local.sh
elif [ -n "${MER_ROOT:-}" ] && [ -f "${MER_ROOT}/cmd_local.sh" ]; then
  # shellcheck disable=SC1091
  . "${MER_ROOT}/cmd_local.sh"
fi
export feats_cmd train_cmd cuda_cmd decode_cmd
