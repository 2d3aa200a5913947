"""Copy part of a data dir: chosen utterances, speakers, sessions or folds.

Usage: utils/subset_data_dir.sh (--utt-list F | --spk-list F | --sessions A,B |
                                 --fold-file F --folds A,B) [--complement] SRC DST

Every file of SRC is subset consistently (segments and wav.scp by recording, spk2utt
regenerated). Lists hold one id per line (first column). Unknown ids in a list are skipped with a
warning; a session or fold that no utterance has is an error. --complement keeps the rest.

Examples:
  utils/subset_data_dir.sh --sessions Ses05 data/all data/test_fold5
  utils/subset_data_dir.sh --sessions Ses05 --complement data/all data/train_fold5
  utils/subset_data_dir.sh --fold-file local/folds.txt --folds 1,2 data/all data/test_12
"""
from __future__ import annotations

import argparse
import sys

from mer.data.split import subset_data_dir


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="source data dir")
    parser.add_argument("dst", help="destination data dir (created; old data files replaced)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--utt-list", metavar="F", help="utterance ids, one per line")
    group.add_argument("--spk-list", metavar="F", help="speaker ids, one per line")
    group.add_argument("--sessions", metavar="A,B", help="sessions to keep (from SRC/utt2session)")
    group.add_argument("--fold-file", metavar="F", help="lines '<utt> <fold>'; keep the --folds given")
    parser.add_argument("--folds", metavar="A,B", help="with --fold-file: the folds to keep")
    parser.add_argument("--complement", action="store_true", help="keep every utterance NOT selected")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    if (args.fold_file is None) != (args.folds is None):
        parser.error("--fold-file and --folds go together")
    try:
        result = subset_data_dir(args.src, args.dst, utt_list=args.utt_list, spk_list=args.spk_list,
                                 sessions=args.sessions, fold_file=args.fold_file, folds=args.folds,
                                 complement=args.complement)
    except (OSError, ValueError) as exc:
        print(f"subset_data_dir: {exc}", file=sys.stderr)
        return 1
    for msg in result.warnings:
        print(f"WARNING: {msg}", file=sys.stderr)
    print(f"subset_data_dir: wrote {len(result.data)} of {result.num_total} utterances "
          f"({len(result.data.speakers)} speakers) to {args.dst}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
