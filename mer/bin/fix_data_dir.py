"""Make a data dir consistent: sort every file, keep the utterances all files share.

Usage: utils/fix_data_dir.sh [--exclude FILE] DIR

Sorts the files under LC_ALL=C, keeps only utterances present (and well formed) in every
per-utterance file, drops those listed in FILE (first column, e.g. a feature dump's `failed`
file of `utt<TAB>reason` lines), regenerates spk2utt, drops unused wav.scp recordings, and copies
every changed file into DIR/.backup/ first. Then validates DIR (wav.scp and text are required
only when present) and prints what is still wrong.

Exit status: 0 fixed and valid, 1 not fixable or still invalid, 2 bad usage.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mer.data.fix import FixError, fix_data_dir
from mer.data.validate import check_data_dir


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", help="the data directory, fixed in place")
    parser.add_argument("--exclude", metavar="FILE",
                        help="drop the utterances listed in FILE (one per line, first column)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        summary = fix_data_dir(args.dir, exclude=args.exclude)
    except (FixError, OSError) as exc:
        print(f"fix_data_dir: {exc}", file=sys.stderr)
        return 1
    for line in str(summary).splitlines():
        print(f"fix_data_dir: {line}")
    d = Path(args.dir)
    # What fixing can mend; an empty transcript is judged by stage 1 and the text dump, and fold dirs
    # made before they carried text_missing would fail here on the ones corpus preparation allowed.
    result = check_data_dir(d, no_wav=not (d / "wav.scp").is_file(), no_text=not (d / "text").is_file(),
                            allow_empty_text=True)
    for msg in result.errors:
        print(f"ERROR: {msg}", file=sys.stderr)
    if result.errors:
        print(f"fix_data_dir: {d} is still not valid; the problems above need a hand", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
