"""Train over several nodes: one torchrun agent per node, joined by a c10d rendezvous.

usage: python -m mer.bin.train_nodes --nnodes N [--nproc-per-node G] [--gpus-per-node G]
           [--launcher auto|srun|local] [--module mer.bin.train] -- TRAIN-ARGS...

Inside a Slurm allocation of N nodes (a job submitted with ``utils/slurm_cmd.sh --num-nodes N``,
i.e. ``sbatch --nodes N``) it runs one ``srun`` step, one agent per node, with the allocation's first
node as the rendezvous endpoint on a port free there; elsewhere it runs the N agents on this
machine (a stand-in for N nodes). Each agent runs
``torchrun --nnodes N --nproc-per-node G --rdzv-backend c10d --rdzv-endpoint HOST:PORT --rdzv-id ID
-m mer.bin.train TRAIN-ARGS``. The exp dir must be on a file system every node shares: rank 0
writes the checkpoints and logs, and every rank reads the checkpoint to resume. Exit: the agents'
status (0: trained), 2 for a usage error. Implemented by mer.jobs.nodes.
"""
from __future__ import annotations

import argparse
import sys

from mer.jobs.common import UsageError
from mer.jobs.nodes import launch


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nnodes", type=int, required=True, help="nodes (torchrun agents)")
    p.add_argument("--nproc-per-node", type=int, default=1, help="training processes per node")
    p.add_argument("--gpus-per-node", type=int, default=0, help="GPUs per node (0: CPU, gloo)")
    p.add_argument("--launcher", default="auto", choices=("auto", "srun", "local"),
                   help="srun inside a Slurm allocation (auto's choice there), else local")
    p.add_argument("--module", default="mer.bin.train", help="the training module every worker runs")
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then the training module's arguments")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    try:
        return launch(args.nnodes, args.nproc_per_node, args.gpus_per_node, args.module, train_args,
                      args.launcher)
    except UsageError as e:
        print(f"train_nodes: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
