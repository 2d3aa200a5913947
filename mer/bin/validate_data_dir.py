"""Check a Kaldi-style data directory for mer.

Usage: utils/validate_data_dir.sh [--labels LIST_OR_FILE] [--no-wav] [--no-text] [--allow-empty-text] DIR

utt2emo labels are checked against --labels, or DIR/labels (one per line) when present.

Errors and warnings go to stderr, one per line as `FILE:LINE: problem`; a valid dir gets a
one-line summary on stdout. Exit status: 0 valid (warnings allowed), 1 any error, 2 bad usage.

Examples:
  utils/validate_data_dir.sh data/train
  utils/validate_data_dir.sh --labels ang,hap,neu,sad data/ses01
  utils/validate_data_dir.sh --labels conf/labels.txt --no-wav data/meld_text_only
"""
from __future__ import annotations

import argparse
import sys

from mer.data.validate import check_data_dir


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", help="the data directory")
    parser.add_argument("--labels", metavar="LIST_OR_FILE",
                        help="allowed utt2emo labels: comma-separated, or a file with one label per line "
                             "(default: DIR/labels when present)")
    parser.add_argument("--no-wav", action="store_true", help="wav.scp is not required (text-only dir)")
    parser.add_argument("--no-text", action="store_true", help="text is not required")
    parser.add_argument("--allow-empty-text", action="store_true",
                        help="accept empty transcripts anywhere (by default only those listed in "
                             "DIR/text_missing, which corpus preparation writes with a reason)")
    parser.add_argument("--no-pipes", action="store_true",
                        help="reject wav.scp commands ('... |'): reading such an entry runs it in a shell, "
                             "so check corpora from untrusted sources with this")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        result = check_data_dir(args.dir, labels=args.labels, no_wav=args.no_wav, no_text=args.no_text,
                                no_pipes=args.no_pipes, allow_empty_text=args.allow_empty_text)
    except (OSError, ValueError) as exc:
        print(f"validate_data_dir: {exc}", file=sys.stderr)
        return 2
    for msg in result.errors:
        print(f"ERROR: {msg}", file=sys.stderr)
    for msg in result.warnings:
        print(f"WARNING: {msg}", file=sys.stderr)
    if result.errors:
        print(f"validate_data_dir: {args.dir} is not valid ({len(result.errors)} error line(s))",
              file=sys.stderr)
        return 1
    print(f"validate_data_dir: {args.dir} is valid: {result.num_utts} utterances, "
          f"{result.num_speakers} speakers" + (f", {len(result.warnings)} warning(s)" if result.warnings else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
