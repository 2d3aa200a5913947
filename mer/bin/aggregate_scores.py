"""Aggregate the per-fold scores of one configuration.

Usage:
  python -m mer.bin.aggregate_scores EXP_CONFIG_DIR [--test-set test] [--expected-folds N]

Reads EXP_CONFIG_DIR/fold*/decode_<set>/scores.json and writes EXP_CONFIG_DIR/scores_<set>.json:
  folds      per-fold scalar metrics (wa, ua, macro_f1, weighted_*, num_utts)
  mean, std  across folds; std is the sample standard deviation (std_ddof: 1), null for one fold
  pooled     all folds' predictions scored as one set (incl. confusion and per-class AUC)
  meta       protocol, config, num_folds, corpus, system, aggregation, modalities
Folds without scores are left out and listed in missing_folds with complete: false; by default
the expected folds are the fold* directories present, --expected-folds N expects fold1..foldN.

  python -m mer.bin.aggregate_scores --over-seeds GROUPS [--test-set test]

GROUPS (a file, or - for stdin): one line per system run with several seeds (emo.sh --seeds),
OUT_DIR<TAB>RUN_DIR<TAB>RUN_DIR...: the runs as one result, OUT_DIR/scores_<set>.json, mean ± std
over every (fold, seed) pair (mer.scoring.seeds).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mer.scoring.aggregate import aggregate
from mer.scoring.decode_dir import ScoringError
from mer.scoring.seeds import aggregate_seeds
from mer.utils.fileio import write_json_atomic


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mer.bin.aggregate_scores", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exp_config_dir", nargs="*", help="exp/<protocol>/<config>, holding fold1..foldK "
                                                          "(several: one process aggregates all)")
    parser.add_argument("--test-set", nargs="+", default=["test"],
                        help="decode_<set> to aggregate (default: test; several allowed)")
    parser.add_argument("--expected-folds", type=int, default=None, metavar="N",
                        help="the protocol's number of folds; fewer scored folds mark the result incomplete")
    parser.add_argument("--over-seeds", metavar="GROUPS",
                        help="a file (- : stdin) of lines OUT_DIR<TAB>RUN_DIR<TAB>RUN_DIR...: each line's runs "
                             "(one system, several seeds) aggregated as one into OUT_DIR")
    args = parser.parse_args(argv)
    if bool(args.over_seeds) == bool(args.exp_config_dir):
        parser.error("give either EXP_CONFIG_DIR... or --over-seeds GROUPS")
    if args.expected_folds is not None and args.expected_folds < 1:
        parser.error("--expected-folds must be >= 1")
    failed = 0
    if args.over_seeds:
        text = sys.stdin.read() if args.over_seeds == "-" else Path(args.over_seeds).read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            out, *runs = line.split("\t")
            if not runs:
                parser.error(f"--over-seeds {args.over_seeds}: line {n}: expected OUT_DIR<TAB>RUN_DIR..., got {line!r}")
            for test_set in args.test_set:
                failed += _aggregate_one(out, test_set, args.expected_folds, runs)
        return 1 if failed else 0
    for config_dir in args.exp_config_dir:
        for test_set in args.test_set:
            failed += _aggregate_one(config_dir, test_set, args.expected_folds)
    return 1 if failed else 0


def _aggregate_one(config_dir: str, test_set: str, expected_folds: int | None,
                   seed_runs: list[str] | None = None) -> int:
    try:
        result = (aggregate_seeds(config_dir, seed_runs, test_set, expected_folds) if seed_runs
                  else aggregate(config_dir, test_set, expected_folds))
    except ScoringError as e:
        print(f"mer.bin.aggregate_scores: error: {e}", file=sys.stderr)
        return 1
    path = Path(config_dir) / f"scores_{test_set}.json"
    write_json_atomic(path, result)
    m, s = result["mean"], result["std"]

    def fmt(k: str) -> str:
        return f"{100 * m[k]:.2f}" + (f" ± {100 * s[k]:.2f}" if s[k] is not None else "")

    status = "" if result["complete"] else f"  INCOMPLETE, missing {' '.join(result['missing_folds'])}"
    seeds = f" x {len(result['seeds'])} seeds" if "seeds" in result else ""
    print(f"{path}: {result['num_folds']} fold(s){seeds}  UA {fmt('ua')}  WA {fmt('wa')}{status}")
    if not result["complete"]:
        print(f"warning: {path} aggregates {result['num_folds']} of {result['expected_folds']} folds",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
