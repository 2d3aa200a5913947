"""Plot confusion matrices, ROC curves and t-SNE from saved decode outputs (never a model).

Usage:
  python -m mer.bin.plot DECODE_DIR [DECODE_DIR ...] --out DIR [--title-from meta|path]
                         [--tsne-max 2000] [--seed 0] [--format png [pdf]]
  python -m mer.bin.plot --pool EXP_CONFIG_DIR [EXP_CONFIG_DIR ...] --test-set test --out DIR
  python -m mer.bin.plot --plan PLAN_FILE|-      (several --pool calls in one process: stage 6)

Per decode dir (or, with --pool, per configuration with all its folds' decode_<set> dirs pooled):
  <name>_confusion.png  counts and row percentages, colour = row-normalised share
  <name>_roc.png        one-vs-rest ROC per class, AUC in the legend (needs posteriors.scp)
  <name>_tsne.png       t-SNE of embeddings.scp coloured by reference emotion (at most
                        --tsne-max utterances, a seeded subsample; perplexity min(30, (n-1)/3));
                        pooled over folds, one panel per fold: each fold is its own model with its
                        own embedding space, and one map of several would cluster by fold
  <name>_<extra>.png    for each extra output the model saved (meta.json "extra_outputs", e.g.
                        fusion_weights): its distribution per reference class and per
                        correct/incorrect prediction
  <name>_layer_weights.png  the model's learned layer weights per stream (meta.json "model":
                        `layer_weights`, from describe()), over folds when pooled; only models that
                        record them
  (pooled ROC: the curve over all folds' posteriors, each fold's AUC as mean ± std in the legend)
With several inputs also tsne_side_by_side.png (each input's first fold, named in its title) and
confusion_side_by_side.png, one panel each
(as memocmt Fig. 2 shows the cls/mean/min/max aggregations side by side).
A figure that cannot be drawn (no posteriors, NaN or inf in them or in the embeddings, constant
embeddings of a collapsed model, too few utterances) is skipped: each skip is logged and listed in
<out>/skipped.txt with its reason, and the other figures and models are drawn (exit status 0).
<name> is <protocol>_<config>_fold<k>_<set> (pooled: ..._pooled_<set>).
--plan: one line per figure set, tab-separated TEST_SET, OUT_DIR, EXP_CONFIG_DIR... (mer.plots.plan);
each set keeps its own <OUT_DIR>/skipped.txt; a set that cannot be drawn is reported with its plan
line and the others are drawn (exit status 1 then); the time of the whole plan is printed.
The figures are the registered ones (mer.plots.figures; `python -m mer.bin.list figure`): a new figure
is one module of mer/plots that registers itself.
"""
from __future__ import annotations

import argparse
import sys
import time

from mer.plots.common import FORMATS
from mer.plots.figures import Skips, make_plots
from mer.plots.plan import draw_plan, load_pooled, read_plan, wrote_message
from mer.plots.tsne import MIN_POINTS
from mer.scoring.decode_dir import ScoringError, load_decode_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mer.bin.plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="*", help="decode dirs, or with --pool experiment config dirs")
    parser.add_argument("--out", help="directory for the figures (not with --plan)")
    parser.add_argument("--plan", help="file of figure sets, one per line (- : standard input)")
    parser.add_argument("--pool", action="store_true",
                        help="inputs are exp/<protocol>/<config> dirs; pool their folds' decode_<set>")
    parser.add_argument("--test-set", default="test", help="with --pool: which decode_<set> (default: test)")
    parser.add_argument("--title-from", choices=("meta", "path"), default="meta",
                        help="titles from meta.json (config, aggregation, fold) or from the path")
    parser.add_argument("--tsne-max", type=int, default=2000, help="t-SNE subsample size (default: 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsample and of t-SNE")
    parser.add_argument("--format", nargs="+", choices=FORMATS, default=["png"], help="png and/or pdf")
    args = parser.parse_args(argv)
    if args.tsne_max < MIN_POINTS:
        parser.error(f"--tsne-max must be at least {MIN_POINTS}")
    if args.plan is not None:
        if args.dirs or args.out or args.pool:
            parser.error("--plan names the dirs and outputs itself: no DIR, --out or --pool beside it")
        return run_plan(args)
    if not args.dirs or not args.out:
        parser.error("give the dirs to plot and --out (or --plan)")
    try:
        outputs = ([load_pooled(d, args.test_set) for d in args.dirs] if args.pool
                   else [load_decode_dir(d, allow_nonfinite=True) for d in args.dirs])
        skips = Skips()
        figures = make_plots(outputs, args.out, args.title_from, args.tsne_max, args.seed, args.format, skips)
    except ScoringError as e:
        print(f"mer.bin.plot: error: {e}", file=sys.stderr)
        return 1
    print(wrote_message(len(figures) * len(args.format), args.out, skips))
    return 0


def run_plan(args) -> int:
    t0 = time.time()
    try:
        sets = read_plan(args.plan)
    except ScoringError as e:
        print(f"mer.bin.plot: error: {e}", file=sys.stderr)
        return 1
    failed = draw_plan(sets, args.title_from, args.tsne_max, args.seed, args.format)
    print(f"mer.bin.plot: {len(sets) - failed} of {len(sets)} figure set(s) drawn in {time.time() - t0:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
