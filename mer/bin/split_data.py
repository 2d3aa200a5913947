"""Split a data dir into N parts for parallel jobs (jobs read DIR/splitN/JOB).

Usage: utils/split_data.sh [--per-utt] DIR N

Writes DIR/splitN/{1..N}, each speaker in exactly one part, parts balanced by utterance count;
with --per-utt, DIR/splitNutt/{1..N} by consecutive utterances. The same input always gives the
same parts, and a split newer than every file of DIR is reused as it is. N larger than the
number of speakers is an error (use --per-utt).
"""
from __future__ import annotations

import argparse
import sys

from mer.data.split import split_data


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", help="the data directory")
    parser.add_argument("n", type=int, help="number of parts")
    parser.add_argument("--per-utt", action="store_true",
                        help="split by utterance (speakers may span parts) into DIR/splitNutt")
    parser.add_argument("--force", action="store_true", help="rewrite the split even when it is current")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        parts = split_data(args.dir, args.n, by="utt" if args.per_utt else "speaker", force=args.force)
    except (OSError, ValueError) as exc:
        print(f"split_data: {exc}", file=sys.stderr)
        return 1
    print(f"split_data: {parts[0].parent} holds {len(parts)} part(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
