"""Job backends with the interface of Kaldi's run.pl / slurm.pl.

    <cmd> [--mem 4G] [--num-threads N] [--gpu N] [--num-nodes N] [--time T] [--max-jobs-run K]
          [--config conf/slurm.conf] [JOB=1:N] log/x.JOB.log command args...

``<cmd>`` is ``utils/local_cmd.sh`` or ``utils/slurm_cmd.sh`` (thin wrappers around
``python -m mer.bin.run_jobs --backend local|slurm``); recipes put it in ``cmd.sh`` as
``train_cmd``/``cuda_cmd``/``decode_cmd``.

Job array
    ``JOB=1:N`` (any variable name, any start <= end; ``JOB=5`` is the single job 5) runs N
    jobs. Every occurrence of the name is replaced by the job number in the log file name and
    in the command arguments (plain substring replacement, as in Kaldi, so ``feats_JOB.scp``
    works). Without ``JOB=...`` a single job runs and nothing is substituted. Options may come
    before or after the ``JOB=`` argument; ``--name value`` and ``--name=value`` both work and
    dashes in names equal underscores.

Command
    The arguments are joined into one string that ``bash -c`` runs. Every argument is quoted and
    reaches the program as one literal word (``"ark:gunzip -c x.JOB.gz |"``, a path with a space,
    ``;`` or ``$(...)`` in it), except an argument that is exactly a shell operator (``|``, ``>``,
    ``>>``, ``<``, ``&&``, ``||``, ``;``, ``2>&1``): pipelines passed as separate words work as
    in Kaldi: ``$cmd log/x.log sort a.txt \\| uniq \\> b.txt``. ``$VAR`` and globs are not
    expanded (run ``bash -c '...'`` as the command for that).

Log files
    The log directory is created. Each log starts with ``# <command>`` and ``# Started at
    <date>`` (then ``# Running on <host>``), holds the job's stdout and stderr, and ends with
    ``# Accounting: time=<seconds> threads=<n>`` and ``# Ended (code <status>) at <date>``.

Failure
    If any job fails, the call exits 1 after all jobs finished and prints
    ``<backend>: N / M failed, log is in <first failed log>`` followed by the last 20 lines
    of that log (the summary line alone is rarely enough to diagnose anything). A usage error
    exits 2; an interruption (SIGINT/SIGTERM/SIGHUP) kills the running jobs and exits 128+signal.

Backends
    local  Runs the jobs on this machine, at most ``--max-jobs-run`` at a time (default: the
           number of CPUs available to this process divided by ``--num-threads``). With
           ``--gpu N`` (N > 0) each running job gets N GPUs of its own through
           CUDA_VISIBLE_DEVICES, chosen from an existing CUDA_VISIBLE_DEVICES or else from
           ``nvidia-smi -L`` (MIG instances by UUID), and concurrency is capped at
           (number of GPUs) // N. No GPU flag is ever passed to the program: it sees its GPUs
           as devices 0..N-1. ``--mem``, ``--time`` and ``--config`` are accepted and ignored;
           other unknown options are ignored with a warning (they may be meaningful to a
           cluster backend configured in the same cmd.sh). Jobs get stdin from /dev/null.
           ``--num-nodes N`` (a multi-node training, mer.jobs.nodes, whose N agents then all run
           here) makes a job take N times ``--gpu`` GPUs.
    slurm  Writes one batch script per call to ``<logdir>/q/<name>.sh`` (``<logdir>``: the
           directory of the first job's log; ``<name>``: the log file name without the job
           variable and ``.log``) and submits it as ONE array job,
           ``sbatch ... --parsable --wait --array=1-N[%K] <script>`` (K: ``--max-jobs-run``).
           Array task T runs job start+T-1: it ``cd``s to the submitting directory, sources
           ``./path.sh`` if present (the default config exports only PATH, as in Kaldi), runs
           the command with ``bash -c`` and writes the log (same header and footer as local)
           and its exit status to ``<logdir>/q/done.<name>.<job>``. When ``sbatch --wait``
           returns, the statuses are read back (waiting up to ``MER_SLURM_DONE_WAIT`` seconds,
           default 30, for files that a shared file system has not shown yet); a task without a
           status file (killed for time or memory, cancelled) counts as failed and its Slurm
           output ``q/<name>.<task>.out`` is named. The backend uses no ``srun``: each array task is a
           single process tree started by sbatch's batch step, which is all these jobs need
           (multi-GPU training runs ``torchrun`` inside one task; a multi-node one, submitted
           with ``--num-nodes N``, runs ``srun`` itself: mer.jobs.nodes). Interrupting the call
           runs ``scancel`` on the array job.

           Generic options are mapped to sbatch flags by a config file in Kaldi's slurm.pl
           format, searched as ``--config FILE``, else ``conf/slurm.conf`` in the current
           directory (as Kaldi does), else :data:`DEFAULT_SLURM_CONF`::

               command sbatch --export=PATH       # the submit command and its fixed flags
               option mem=* --mem-per-cpu $0      # --mem 4G      -> --mem-per-cpu 4G
               option gpu=0                       # --gpu 0       -> nothing
               option gpu=* -p gpu --gres=gpu:$0  # --gpu 2       -> -p gpu --gres=gpu:2
               default gpu=0                      # value used when the option is not given
               option num_nodes=* --nodes $0 --ntasks-per-node 1  # one allocation of N nodes
                                                  # per job; its command runs srun (mer.jobs.nodes)

           ``option NAME=VALUE`` (exact value) wins over ``option NAME=*``; ``$0`` is the value.
           An option given on the command line that the config does not describe is an error.
           As in Kaldi, ``--mem`` is per CPU (``--mem-per-cpu``): with ``--num-threads 4
           --mem 4G`` a job gets 16G.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from typing import IO, Sequence

from mer.jobs.common import (JobArray, JobResult, UsageError, Interrupted, die_with_parent, parse_job_args,
                             shell_join, summarize_failures, visible_gpus)
from mer.jobs.local import LocalBackend
from mer.jobs.slurm import DEFAULT_SLURM_CONF, SlurmBackend, SlurmConfig


__all__ = [
    "DEFAULT_SLURM_CONF",
    "JobArray",
    "JobResult",
    "LocalBackend",
    "SlurmBackend",
    "SlurmConfig",
    "UsageError",
    "die_with_parent",
    "main",
    "parse_job_args",
    "run_array",
    "shell_join",
    "summarize_failures",
    "visible_gpus",
]


def run_array(cmd: str, nj: int, log_pattern: str | os.PathLike, job_cmd: Sequence[str],
              progress=None, total: int = 0, desc: str = "") -> int:
    """Run `job_cmd` (holding JOB) as jobs JOB=1..nj through `cmd`, a launcher with run.pl's
    interface (cmd.sh's feats_cmd; empty: local processes). The launcher, and through it every job,
    ends with the calling process, however that ends. Returns the launcher's exit status.

    `progress()`, if given, returns how many of `total` items the jobs have done so far (the jobs
    write it to files, so it works through any backend that shares the file system); one progress
    line over all jobs is shown on stderr while they run."""
    launcher = shlex.split(cmd) if cmd else [sys.executable, "-m", "mer.bin.run_jobs", "--backend", "local"]
    proc = subprocess.Popen([*launcher, f"JOB=1:{nj}", str(log_pattern), *job_cmd],
                            preexec_fn=die_with_parent(os.getpid()))
    if progress is None:
        return proc.wait()
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="utt", dynamic_ncols=True,
              mininterval=1.0 if sys.stderr.isatty() else 60.0) as bar:
        while proc.poll() is None:
            time.sleep(1.0)
            bar.update(max(0, min(total, progress()) - bar.n))
        bar.update(max(0, min(total, progress()) - bar.n))
    return proc.returncode


BACKENDS = {"local": LocalBackend, "slurm": SlurmBackend}


def main(backend: str, argv: Sequence[str], err: IO[str] | None = None) -> int:
    """Run ``argv`` (``[options] [JOB=a:b] log command...``) on ``backend``; return exit code."""
    err = err if err is not None else sys.stderr
    try:
        if backend not in BACKENDS:
            raise UsageError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        array = parse_job_args(argv)
        results = BACKENDS[backend](err=err).run(array)
    except UsageError as e:
        print(f"{backend}: {e}", file=err)
        return 2
    except Interrupted as e:
        return 128 + e.signum
    return summarize_failures(backend, results, err)
