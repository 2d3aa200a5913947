#!/usr/bin/env bash
# Copyright 2025 The mer authors. Apache-2.0.
# Run jobs as one Slurm array job, with the interface of Kaldi's slurm.pl:
#
#   utils/slurm_cmd.sh [--config conf/slurm.conf] [--max-jobs-run K] [--gpu N] [--num-nodes N]
#                      [--num-threads N] [--mem M] [--time T] [JOB=1:N] <log-file> <command> [args...]
#
# Writes <logdir>/q/<name>.sh and runs `sbatch --parsable --wait --array=1-N%K` on it; each
# array task writes its log (as utils/local_cmd.sh does) and its exit status to
# <logdir>/q/done.<name>.<job>, read back when sbatch returns. Options become sbatch flags
# through --config FILE, else ./conf/slurm.conf, else the built-in default (a copy is in
# utils/conf/slurm.conf), e.g. `option gpu=* -p gpu --gres=gpu:$0`. Jobs source ./path.sh.
# The backend runs no srun (a --num-nodes N job's command does: mer.bin.train_nodes).
# Exit: 0 if all jobs succeeded, 1 if any failed, 2 usage.
# Implemented by mer/jobs/ (python -m mer.bin.run_jobs --backend slurm).
set -euo pipefail
# shellcheck source=utils/lib/python.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/python.sh"
exec "${MER_PYTHON}" -m mer.bin.run_jobs --backend slurm "$@"
