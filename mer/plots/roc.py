"""One-vs-rest ROC curves per class from saved posteriors, AUC in the legend.

Pooled over folds, the curve is drawn from every fold's posteriors together (they are probabilities,
comparable across models), and the legend gives each fold's own AUC as mean ± std beside it."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from mer.plots.checks import nonfinite_reason
from mer.plots.common import class_colours
from mer.plots.figures import register_figure


def fold_aucs(refs: Sequence[str], posteriors: np.ndarray, labels: Sequence[str],
              parts: Sequence[np.ndarray]) -> dict[str, tuple[float, float, int]]:
    """Per class: (mean, sample std, number of folds) of the one-vs-rest AUC of each part (fold)
    that has both sides of the class."""
    y = np.asarray(refs)
    out = {}
    for i, lab in enumerate(labels):
        aucs = [roc_auc_score(y[idx] == lab, posteriors[idx, i]) for idx in parts
                if 0 < (y[idx] == lab).sum() < len(idx)]
        if aucs:
            out[lab] = (float(np.mean(aucs)), float(np.std(aucs, ddof=1)) if len(aucs) > 1 else 0.0, len(aucs))
    return out


def roc_figure(refs: Sequence[str], posteriors: np.ndarray, labels: Sequence[str],
               title: str | None = None, per_fold: dict[str, tuple[float, float, int]] | None = None) -> Figure:
    """`per_fold`: from `fold_aucs`, shown beside each class's pooled AUC."""
    y = np.asarray(refs)
    colours = class_colours(labels)
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    for i, lab in enumerate(labels):
        pos = y == lab
        if pos.all() or not pos.any():  # one-vs-rest is undefined without both sides
            ax.plot([], [], color=colours[lab], label=f"{lab} (AUC n/a: {'no' if not pos.any() else 'only'} "
                                                      f"references of this class)")
            continue
        fpr, tpr, _ = roc_curve(pos, posteriors[:, i])
        folds = ""
        if per_fold and lab in per_fold:
            mean, std, n = per_fold[lab]
            folds = f"; {n} folds {mean:.3f} ± {std:.3f}"
        ax.plot(fpr, tpr, color=colours[lab], lw=1.5,
                label=f"{lab} (AUC {'pooled ' if folds else ''}{roc_auc_score(pos, posteriors[:, i]):.3f}{folds}, "
                      f"n={int(pos.sum())})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title or "ROC, one vs rest", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return fig


@register_figure("roc")
def roc(ctx) -> dict[str, Figure]:
    """one-vs-rest ROC per class from the posteriors, AUC in the legend (pooled: each fold's AUC as mean ± std)"""
    out = ctx.out
    reason = ("no posteriors.scp" if out.posteriors is None else
              nonfinite_reason(out.posteriors, out.utts, "posteriors"))
    if reason:
        ctx.skips.add(f"{ctx.name}_roc", out.path, reason)
        return {}
    per_fold = (fold_aucs(out.refs, out.posteriors, out.classes, [idx for _, idx in ctx.parts])
                if len(ctx.parts) > 1 else None)
    return {f"{ctx.name}_roc": roc_figure(out.refs, out.posteriors, out.classes, ctx.title, per_fold)}
