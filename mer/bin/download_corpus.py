"""Download an open corpus from its official source and verify it (skipped when it is there).

Usage:
  python -m mer.bin.download_corpus emodb downloads/emodb
  python -m mer.bin.download_corpus meld downloads/meld --what csv    # the CSVs only (text-only recipes)
  python -m mer.bin.download_corpus meld downloads/meld --what full   # MELD.Raw with the clips (~10.9 GB)
  python -m mer.bin.download_corpus --list

Recipes run it as stage 0 (`./run.sh --stage 0 --stop_stage 0`) through their local/download.sh.
"""
from __future__ import annotations

import argparse
import sys

from mer.data.downloads import SOURCES, DownloadError, download


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", nargs="?", choices=sorted(SOURCES))
    p.add_argument("dest", nargs="?", help="folder to put the corpus in (the recipe's db.sh location)")
    p.add_argument("--what", default="full", help="which part: full (default) or, for meld, csv")
    p.add_argument("--list", action="store_true", help="list the open corpora and their sources")
    args = p.parse_args(argv)
    if args.list:
        for corpus, parts in SOURCES.items():
            for what, src in parts.items():
                print(f"{corpus} --what {what}: {src.note}\n  " + "\n  ".join(src.urls))
        return 0
    if not args.corpus or not args.dest:
        p.error("CORPUS and DEST are required")
    try:
        download(args.corpus, args.dest, args.what)
    except DownloadError as e:
        print(f"download_corpus: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
