"""Run a command, or an array of jobs, through a Kaldi run.pl / slurm.pl-style backend.

usage: python -m mer.bin.run_jobs [--backend local|slurm] [--mem 4G] [--num-threads N]
           [--gpu N] [--time T] [--max-jobs-run K] [--config conf/slurm.conf]
           [JOB=1:N] <log-file> <command> [args...]

Recipes call it through utils/local_cmd.sh and utils/slurm_cmd.sh, e.g.

    utils/local_cmd.sh --max-jobs-run 4 JOB=1:8 exp/x/log/count.JOB.log \\
        wc -l data/train/split8/JOB/text \\> exp/x/count.JOB

JOB is replaced by 1..N in the log name and the arguments; the joined command runs under
`bash -c` (write pipes as `\\|`). Exit status: 0 when every job succeeded; 1 when any failed
(the summary names the first failed log and prints its last lines); 2 for a usage error;
128+signal when interrupted. The backend semantics (GPU assignment, the Slurm config format)
are documented in mer/jobs/.
"""
from __future__ import annotations

import sys

from mer import jobs


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    backend = "local"
    if args and args[0] == "--backend":
        if len(args) < 2:
            print("run_jobs: --backend needs a value (local or slurm)", file=sys.stderr)
            return 2
        backend = args[1]
        del args[:2]
    elif args and args[0].startswith("--backend="):
        backend = args.pop(0).split("=", 1)[1]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    return jobs.main(backend, args)


if __name__ == "__main__":
    sys.exit(main())
