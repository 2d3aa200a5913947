"""Write one self-contained HTML page of a recipe's results, or of every recipe's.

Usage:
  python -m mer.bin.report RECIPE_DIR [--exp exp] [--out RECIPE_DIR/report.html]
  python -m mer.bin.report --all egs/ [--exp exp] --out report.html

The page (mer.report.html) holds what RESULTS.md holds, from the same files (the aggregated
scores exp/<protocol>/<config>/scores_<set>.json, conf/published.yaml, the protocol audit of
stage 1): per test set a table of systems x protocols with mean ± std over folds, each published
number under only the rows it may be compared with, the pooled scores; per system its per-fold bars
and every PNG stage 6 drew (confusion matrices, ROC, t-SNE per fold, layer and fusion weights), and
the side-by-side figures, all inlined: one file to open or send, no network. Columns sort by a click.
With --all, one page over every recipe <corpus>/<system> under the folder that has scores (the ones
without are named); a recipe whose results cannot be read is named with why, the others are shown
(exit status 1 then). --exp is taken from each recipe dir; --out from the current directory.
Stage 5 writes RECIPE_DIR/report.html beside RESULTS.md and stage 6 again with its figures.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from mer.report.html import render_page
from mer.report.recipe import find_recipes, read_recipe
from mer.scoring.decode_dir import ScoringError
from mer.utils.fileio import write_text_atomic


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mer.bin.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe_dir", nargs="?", help="e.g. egs/emodb/memocmt")
    parser.add_argument("--all", metavar="DIR", help="every recipe DIR/<corpus>/<system> with results, e.g. egs/")
    parser.add_argument("--exp", default="exp", help="experiment dir under each recipe dir (default: exp)")
    parser.add_argument("--out", help="the page (default: RECIPE_DIR/report.html; needed with --all)")
    args = parser.parse_args(argv)
    if (args.recipe_dir is None) == (args.all is None):
        parser.error("give one RECIPE_DIR or --all DIR")
    if args.all is not None and not args.out:
        parser.error("--all needs --out")
    command = "python -m mer.bin.report " + shlex.join(sys.argv[1:] if argv is None else argv)
    skipped: list[str] = []
    failed = False
    if args.all is None:
        if not Path(args.recipe_dir).is_dir():
            print(f"mer.bin.report: error: {args.recipe_dir}: not a directory", file=sys.stderr)
            return 1
        dirs = [Path(args.recipe_dir)]
    else:
        if not Path(args.all).is_dir():
            print(f"mer.bin.report: error: {args.all}: not a directory", file=sys.stderr)
            return 1
        dirs, without = find_recipes(args.all, args.exp)
        skipped += [f"{d}: no results (no {args.exp}/<protocol>/<config>/scores_<set>.json)" for d in without]
    recipes = []
    for d in dirs:
        try:
            recipes.append(read_recipe(d, args.exp))
        except ScoringError as e:
            print(f"mer.bin.report: error: {e}", file=sys.stderr)
            skipped.append(f"{d}: results not readable: {e}")
            failed = True
    for line in skipped:
        print(f"mer.bin.report: left out {line}", file=sys.stderr)
    if not recipes:  # (one recipe without scores yet still gets its page, saying so, as RESULTS.md does)
        print(f"mer.bin.report: error: no recipe with readable results under {args.all or args.recipe_dir}",
              file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else Path(args.recipe_dir) / "report.html"
    write_text_atomic(out, render_page(recipes, command, skipped))
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
