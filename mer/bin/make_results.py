"""Generate a recipe's RESULTS.md from its aggregated scores.

Usage:
  python -m mer.bin.make_results RECIPE_DIR [--exp exp] [--out RESULTS.md] [--published conf/published.yaml]

Collects RECIPE_DIR/<exp>/<protocol>/<config>/scores_<set>.json (from mer.bin.aggregate_scores)
and writes, per test set, one row per configuration with its protocol: UA, WA, macro-F1 and
weighted-F1 as mean ± sample std over folds, the pooled scores, and the published numbers of
--published (default: conf/published.yaml if present) beside them; above the tables, per protocol,
the audit stage 1 wrote (data/<protocol>/fold*/audit.json); rows whose inputs were normalised per
speaker (`cmvn: speaker`) are marked "(transductive)". The header records date, git
commit, python/torch versions, machine and this command. When RESULTS.md already holds the same
results and command, it is left as it is (its header names the run that made them): a rerun leaves
a checkout clean. Relative paths are taken from RECIPE_DIR.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from mer.scoring.decode_dir import ScoringError
from mer.scoring.dropped_labels import dropped_notes
from mer.scoring.results_md import make_results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mer.bin.make_results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe_dir", help="e.g. egs/iemocap/memocmt")
    parser.add_argument("--exp", default="exp", help="experiment dir under RECIPE_DIR (default: exp)")
    parser.add_argument("--out", default="RESULTS.md", help="output under RECIPE_DIR (default: RESULTS.md)")
    parser.add_argument("--published", default=None,
                        help="YAML list of published results (default: conf/published.yaml if it exists)")
    args = parser.parse_args(argv)
    command = "python -m mer.bin.make_results " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        path, written = make_results(args.recipe_dir, args.exp, args.out, args.published, command=command)
        for note in dropped_notes(Path(args.recipe_dir) / args.exp):  # also in RESULTS.md
            print(f"mer.bin.make_results: warning: {note}", file=sys.stderr)
    except ScoringError as e:
        print(f"mer.bin.make_results: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path}" if written else f"{path}: unchanged (the same results and command; the header of the "
                                          f"run that made them is kept)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
