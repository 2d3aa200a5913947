"""Plot confusion matrices, ROC curves and t-SNE from saved decode outputs (never a model).

Usage:
  python -m mer.bin.plot DECODE_DIR [DECODE_DIR ...] --out DIR [--title-from meta|path]
                         [--tsne-max 2000] [--seed 0] [--format png [pdf]]
  python -m mer.bin.plot --pool EXP_CONFIG_DIR [EXP_CONFIG_DIR ...] --test-set test --out DIR

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
The figures are the registered ones (mer.plots.figures; `python -m mer.bin.list figure`): a new figure
is one module of mer/plots that registers itself.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mer.plots.common import FORMATS
from mer.plots.figures import SKIPPED_FILE, Skips, make_plots
from mer.plots.tsne import MIN_POINTS
from mer.scoring.aggregate import fold_dirs
from mer.scoring.decode_dir import DecodeOutputs, ScoringError, load_decode_dir, pool_outputs


def load_pooled(exp_config_dir: str, test_set: str) -> DecodeOutputs:
    """All folds' decode_<set> dirs of one configuration as one set of outputs."""
    folds = {name: p / f"decode_{test_set}" for name, p in fold_dirs(exp_config_dir).items()
             if (p / f"decode_{test_set}" / "utt2pred").is_file()}
    if not folds:
        raise ScoringError(f"{exp_config_dir}: no fold*/decode_{test_set}/utt2pred")
    missing = [n for n in fold_dirs(exp_config_dir) if n not in folds]
    if missing:
        print(f"mer.bin.plot: warning: {exp_config_dir}: pooling without {', '.join(missing)} "
              f"(no decode_{test_set})", file=sys.stderr)
    return pool_outputs({n: load_decode_dir(d, allow_nonfinite=True) for n, d in folds.items()},
                        path=str(exp_config_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mer.bin.plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", help="decode dirs, or with --pool experiment config dirs")
    parser.add_argument("--out", required=True, help="directory for the figures")
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
    try:
        outputs = ([load_pooled(d, args.test_set) for d in args.dirs] if args.pool
                   else [load_decode_dir(d, allow_nonfinite=True) for d in args.dirs])
        skips = Skips()
        figures = make_plots(outputs, args.out, args.title_from, args.tsne_max, args.seed, args.format, skips)
    except ScoringError as e:
        print(f"mer.bin.plot: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(figures) * len(args.format)} file(s) to {args.out}"
          + (f"; skipped {len(skips)} figure(s), listed in {Path(args.out) / SKIPPED_FILE}" if skips else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
