"""One-vs-rest ROC curves per class from saved posteriors, AUC in the legend."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from mer.plots.common import class_colours


def roc_figure(refs: Sequence[str], posteriors: np.ndarray, labels: Sequence[str],
               title: str | None = None) -> Figure:
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
        ax.plot(fpr, tpr, color=colours[lab], lw=1.5,
                label=f"{lab} (AUC {roc_auc_score(pos, posteriors[:, i]):.3f}, n={int(pos.sum())})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title or "ROC, one vs rest", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return fig
