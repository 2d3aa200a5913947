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
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from mer.plots.checks import constant_rows_reason, nonfinite_reason
from mer.plots.common import FORMATS, save_figure
from mer.plots.confusion import confusion_figure, confusion_grid
from mer.plots.extras import column_names, extra_output_figure
from mer.plots.layer_weights import layer_weights_by_stream, layer_weights_figure
from mer.plots.roc import fold_aucs, roc_figure
from mer.plots.tsne import MIN_POINTS, subsample, tsne_2d, tsne_figure, tsne_grid
from mer.scoring.aggregate import fold_dirs
from mer.scoring.decode_dir import DecodeOutputs, ScoringError, load_decode_dir, pool_outputs
from mer.utils.fileio import write_text_atomic

SKIPPED_FILE = "skipped.txt"


def _warn(msg: str) -> None:
    print(f"mer.bin.plot: warning: {msg}", file=sys.stderr)


class Skips(list):
    """Figures not drawn, with why: logged as they happen, written to skipped.txt at the end."""

    def add(self, figure: str, source: str, reason: str) -> None:
        self.append(f"{figure}\t{source}: {reason}")
        _warn(f"{source}: no {figure}: {reason}")


def load_pooled(exp_config_dir: str, test_set: str) -> DecodeOutputs:
    """All folds' decode_<set> dirs of one configuration as one set of outputs."""
    folds = {name: p / f"decode_{test_set}" for name, p in fold_dirs(exp_config_dir).items()
             if (p / f"decode_{test_set}" / "utt2pred").is_file()}
    if not folds:
        raise ScoringError(f"{exp_config_dir}: no fold*/decode_{test_set}/utt2pred")
    missing = [n for n in fold_dirs(exp_config_dir) if n not in folds]
    if missing:
        _warn(f"{exp_config_dir}: pooling without {', '.join(missing)} (no decode_{test_set})")
    return pool_outputs({n: load_decode_dir(d, allow_nonfinite=True) for n, d in folds.items()},
                        path=str(exp_config_dir))


def _name(out: DecodeOutputs) -> str:
    m = out.meta
    fold = f"fold{m['fold']}" if m.get("fold") is not None else "pooled"
    parts = [m.get("protocol"), m.get("config"), fold, m.get("test_set")]
    return "_".join(str(p) for p in parts if p is not None).replace("/", "-")


def _title(out: DecodeOutputs, title_from: str) -> str:
    if title_from == "path":
        return out.path
    m = out.meta
    agg = f" [{m['aggregation']}]" if m.get("aggregation") else ""
    n = len(m.get("pooled_from", []))
    fold = f"fold {m['fold']}" if m.get("fold") is not None else f"{n} fold{'s' if n != 1 else ''} pooled"
    return f"{m.get('config')}{agg}\n{m.get('protocol')}, {fold}, {m.get('test_set') or ''}".rstrip(", ")


def model_parts(out: DecodeOutputs) -> list[tuple[str, np.ndarray]]:
    """(label, row indices) per model: each fold of a pooled output is a model of its own, with an
    embedding space of its own, so its embeddings are never mixed with another fold's."""
    folds = out.meta.get("pooled_from") or []
    if len(folds) <= 1:
        return [(f"fold {out.meta['fold']}" if out.meta.get("fold") is not None else "", np.arange(len(out.utts)))]
    owner = np.array([u.split("/", 1)[0] for u in out.utts])
    return [(f, np.flatnonzero(owner == f)) for f in folds if (owner == f).any()]


def _tsne_panels(out: DecodeOutputs, name: str, title: str, parts, tsne_max: int, seed: int,
                 skips: Skips) -> list:
    """One t-SNE panel per model (fold) that can have one; the others are named in `skips`."""
    figure = f"{name}_tsne"
    emb = out.embeddings()
    if emb is None:
        skips.add(figure, out.path, "no embeddings.scp")
        return []
    if len(out.utts) < MIN_POINTS:
        skips.add(figure, out.path, f"{len(out.utts)} utterances are too few for t-SNE")
        return []
    panels = []
    for label, rows in parts:
        where = f"{out.path}{' ' + label if label else ''}"
        if len(rows) < MIN_POINTS:
            skips.add(figure, where, f"{len(rows)} utterances, too few for t-SNE")
            continue
        idx = rows[subsample(len(rows), tsne_max, seed)]
        reason = (nonfinite_reason(emb[idx], [out.utts[i] for i in idx], "embeddings")
                  or constant_rows_reason(emb[idx], "embeddings"))
        if reason:
            skips.add(figure, where, reason)
            continue
        xy = tsne_2d(emb[idx], seed)
        if not np.all(np.isfinite(xy)):  # nearly constant embeddings can still defeat it
            skips.add(figure, where, "t-SNE gave non-finite coordinates (embeddings nearly constant?)")
            continue
        sub = f" ({len(idx)} of {len(rows)} utts)" if len(idx) < len(rows) else ""
        panels.append((f"{title}\n{label}{sub}".rstrip(), xy, [out.refs[i] for i in idx]))
    return panels


def make_plots(outputs: Sequence[DecodeOutputs], out_dir: str | Path, title_from: str = "meta",
               tsne_max: int = 2000, seed: int = 0, formats: Sequence[str] = ("png",),
               skips: Skips | None = None) -> dict[str, Figure]:
    """Draw and save every figure that can be drawn; returns {file stem: Figure} (already saved).
    What cannot be drawn is added to `skips` and listed in <out_dir>/skipped.txt (removed when
    nothing was skipped, so that the file always describes the last run)."""
    out_dir = Path(out_dir)
    skips = Skips() if skips is None else skips
    figures: dict[str, Figure] = {}
    names: list[str] = []
    for out in outputs:
        name = _name(out)
        while name in names:  # the same dir twice, or colliding meta
            name += "_"
        names.append(name)

    tsne_panels, conf_panels = [], []
    for name, out in zip(names, outputs):
        title = _title(out, title_from)
        cm = confusion_matrix(out.refs, out.preds, labels=out.classes)
        figures[f"{name}_confusion"] = confusion_figure(cm, out.classes, title)
        conf_panels.append((title, cm, out.classes))
        parts = model_parts(out)
        reason = ("no posteriors.scp" if out.posteriors is None else
                  nonfinite_reason(out.posteriors, out.utts, "posteriors"))
        if reason:
            skips.add(f"{name}_roc", out.path, reason)
        else:
            per_fold = (fold_aucs(out.refs, out.posteriors, out.classes, [idx for _, idx in parts])
                        if len(parts) > 1 else None)
            figures[f"{name}_roc"] = roc_figure(out.refs, out.posteriors, out.classes, title, per_fold)
        # One t-SNE per model (fold): a grid when pooled, never one map of several models.
        panels = _tsne_panels(out, name, title, parts, tsne_max, seed, skips)
        if len(panels) == 1:
            figures[f"{name}_tsne"] = tsne_figure(panels[0][1], panels[0][2], out.classes, panels[0][0])
        elif panels:
            figures[f"{name}_tsne"] = tsne_grid(panels, out.classes)
        if panels:  # side by side across configs: one named fold each
            tsne_panels.append(panels[0])
        for extra in out.meta.get("extra_outputs") or []:
            values = out.output(extra)
            reason = (f"meta.json lists extra output '{extra}' but there is no {extra}.scp" if values is None
                      else nonfinite_reason(values, out.utts, extra))
            if reason:
                skips.add(f"{name}_{extra}", out.path, reason)
                continue
            figures[f"{name}_{extra}"] = extra_output_figure(
                values, out.refs, out.preds, out.classes, column_names(extra, values.shape[1], out.meta), title)
        models = list(out.meta["models"].values()) if "models" in out.meta else [out.meta.get("model")]
        layer_weights = layer_weights_by_stream(models)
        if layer_weights:
            figures[f"{name}_layer_weights"] = layer_weights_figure(layer_weights, title)

    if len(outputs) > 1:
        labels = list(dict.fromkeys(c for out in outputs for c in out.classes))
        if len(tsne_panels) > 1:
            figures["tsne_side_by_side"] = tsne_grid(tsne_panels, labels)
        figures["confusion_side_by_side"] = confusion_grid(conf_panels)
    for stem, fig in figures.items():
        save_figure(fig, out_dir / stem, formats)
    skipped = out_dir / SKIPPED_FILE
    if skips:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(skipped, "# figure\twhy it was not drawn\n" + "\n".join(skips) + "\n")
    elif skipped.exists():
        skipped.unlink()
    return figures


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
