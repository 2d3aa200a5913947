"""The options and exit convention every per-utterance job-array command shares (mer.bin.dump_feats,
mer.bin.transcribe): how many jobs, through which launcher (mer.jobs), and what failed utterances do
to the exit status.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

log = logging.getLogger(__name__)


def add_job_options(p: argparse.ArgumentParser) -> None:
    """--nj, --cmd, --tolerate-failures and the internal --job."""
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--cmd", default=os.environ.get("MER_CMD", ""),
                   help="job launcher with Kaldi's run.pl interface (default: local processes)")
    p.add_argument("--tolerate-failures", action="store_true",
                   help="exit 0 even when some utterances failed (they are still listed in OUT_DIR/failed)")
    p.add_argument("--job", type=int, help=argparse.SUPPRESS)  # internal: run only this job


def failures_exit_status(prog: str, n_failed: int, args) -> int:
    """1 when utterances failed (they are in OUT_DIR/failed), unless --tolerate-failures; else 0."""
    if n_failed:
        msg = (f"{prog}: {n_failed} utterance(s) failed, listed in {args.out_dir}/failed; drop them with "
               f"utils/fix_data_dir.sh --exclude {args.out_dir}/failed {args.data_dir}")
        if not args.tolerate_failures:
            print(msg, file=sys.stderr)
            return 1
        log.warning("%s", msg)
    return 0
