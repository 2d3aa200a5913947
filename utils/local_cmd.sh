#!/usr/bin/env bash
# Copyright 2025 The mer authors. Apache-2.0.
# Run jobs on this machine, with the interface of Kaldi's run.pl:
#
#   utils/local_cmd.sh [--max-jobs-run K] [--gpu N] [--num-nodes N] [--num-threads N] [--mem M] [--time T]
#                      [JOB=1:N] <log-file> <command> [args...]
#
# JOB is replaced by 1..N in the log name and the command; the command runs under `bash -c`
# (write pipes and redirections as `\|`, `\>`). At most K jobs run at once (default: CPUs /
# --num-threads). With --gpu N each running job gets N GPUs of its own via CUDA_VISIBLE_DEVICES
# (from CUDA_VISIBLE_DEVICES or `nvidia-smi -L`); no GPU flag is passed to the program.
# --mem, --time and --config are accepted and ignored (they matter to utils/slurm_cmd.sh).
# Exit: 0 if all jobs succeeded, 1 if any failed (prints the first failed log's tail), 2 usage.
# Implemented by mer/jobs/ (python -m mer.bin.run_jobs --backend local).
set -euo pipefail
# shellcheck source=utils/lib/python.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/python.sh"
exec "${MER_PYTHON}" -m mer.bin.run_jobs --backend local "$@"
