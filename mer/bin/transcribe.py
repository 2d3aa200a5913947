"""Transcribe a Kaldi data directory with a Whisper model (transformers).

Usage:
  python -m mer.bin.transcribe --model ID_OR_DIR [--beam-size N] [--batch-size B] [--language en]
      [--device auto|cpu|cuda] [--nj N] [--cmd CMD] [--tolerate-failures] DATA_DIR OUT_DIR

Decodes every utterance of DATA_DIR (wav.scp, with segments if present) and writes
OUT_DIR/text (`<utt> <hypothesis>`, C-sorted), OUT_DIR/failed (`utt<TAB>reason`),
OUT_DIR/settings.json (model and options) and, when DATA_DIR/text exists, OUT_DIR/wer.json and
OUT_DIR/alignment.txt (normalisation: see mer.asr.normalize). Greedy decoding unless --beam-size
> 1. Every good utterance is transcribed; the command exits 1 when some failed, unless
--tolerate-failures. A re-run continues where a killed one stopped and skips finished jobs.
With --nj N the utterances are split into N jobs run through CMD (default: local processes);
logs: OUT_DIR/log/transcribe.JOB.log.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mer.asr.run import TranscriptionError, check_settings, model_settings, run_job, transcribe_data_dir
from mer.jobs.options import add_job_options, failures_exit_status

log = logging.getLogger("transcribe")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="hub id, local directory or short name (whisper-tiny.en)")
    p.add_argument("--beam-size", type=int, default=1, help="1: greedy (default); N > 1: beam search")
    p.add_argument("--batch-size", type=int, default=8, help="utterances decoded together")
    p.add_argument("--language", help="for multilingual models, e.g. en (default: the model detects it)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    add_job_options(p)
    p.add_argument("data_dir")
    p.add_argument("out_dir")
    return p


def run(args) -> int:
    """Transcribe as `args` say (also called by dump_feats for `feature: asr`); the exit status."""
    if not args.model:
        print("transcribe: --model is required (a hub id, local directory or short name)", file=sys.stderr)
        return 2
    opts = dict(model=args.model, beam_size=args.beam_size, batch_size=args.batch_size,
                language=args.language, device=args.device)
    try:
        if args.job is not None:
            settings = model_settings(args.data_dir, nj=args.nj, **opts)
            check_settings(Path(args.out_dir), settings, write=False)
            run_job(args.data_dir, args.out_dir, args.nj, args.job, **opts)
            return 0  # failed utterances are counted by the merge
        result = transcribe_data_dir(args.data_dir, args.out_dir, nj=args.nj, cmd=args.cmd, **opts)
    except TranscriptionError as e:
        print(f"transcribe: {e}", file=sys.stderr)
        return 2
    log.info("transcribed %d utterance(s) to %s/text; %d failed", len(result.hyps), args.out_dir,
             len(result.failed))
    return failures_exit_status("transcribe", len(result.failed), args)


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    if args.nj < 1 or args.beam_size < 1 or args.batch_size < 1:
        print("transcribe: --nj, --beam-size and --batch-size must be >= 1", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
