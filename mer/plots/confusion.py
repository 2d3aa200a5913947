"""Confusion matrices: colour = row-normalised share, text = count and row percentage."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from mer.plots.common import grid_shape, pages
from mer.plots.figures import register_figure


def row_normalise(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (the reference class's support); empty rows stay 0."""
    m = np.asarray(matrix, dtype=np.float64)
    sums = m.sum(axis=1, keepdims=True)
    return np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)


def draw_confusion(ax: Axes, matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str | None = None):
    """Draw one matrix (rows = reference) on `ax`; returns the image for a colour bar."""
    counts = np.asarray(matrix, dtype=int)
    share = row_normalise(counts)
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    n = len(labels)
    fontsize = 9 if n <= 5 else 7 if n <= 8 else 5
    for i in range(n):
        for j in range(n):
            colour = "white" if share[i, j] > 0.6 else "black"  # readable on dark cells
            ax.text(j, i, f"{counts[i, j]}\n{100 * share[i, j]:.1f}%", ha="center", va="center",
                    color=colour, fontsize=fontsize)
    ax.set_xticks(range(n), labels, rotation=45 if n > 5 else 0, ha="right" if n > 5 else "center")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    if title:
        ax.set_title(title, fontsize=10)
    return im


def confusion_figure(matrix, labels: Sequence[str], title: str | None = None) -> Figure:
    size = max(4.0, 0.9 * len(labels) + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    im = draw_confusion(ax, matrix, labels, title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of reference row")
    return fig


def confusion_grid(panels: Sequence[tuple[str, Sequence[Sequence[int]], Sequence[str]]]) -> Figure:
    """Side by side: panels = [(title, matrix, labels), ...], one axes each, one shared colour bar."""
    rows, cols = grid_shape(len(panels))
    size = max(3.5, 0.8 * max(len(p[2]) for p in panels) + 1.5)
    fig = Figure(figsize=(size * cols + 1, size * rows), layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(len(panels))]
    im = None
    for ax, (title, matrix, labels) in zip(axes, panels):
        im = draw_confusion(ax, matrix, labels, title)
    fig.colorbar(im, ax=axes, shrink=0.8, label="share of reference row")
    return fig


@register_figure("confusion")
def confusion(ctx) -> dict[str, Figure]:
    """counts and row percentages, colour = the row-normalised share"""
    out = ctx.out
    cm = confusion_matrix(out.refs, out.preds, labels=out.classes)
    ctx.shared.setdefault("confusion", []).append((ctx.title, cm, out.classes))
    return {f"{ctx.name}_confusion": confusion_figure(cm, out.classes, ctx.title)}


@register_figure("confusion_side_by_side", scope="set")
def confusion_side_by_side(shared: dict, outputs) -> dict[str, Figure]:
    """every output's confusion matrix, one panel each (as memocmt Fig. 2 shows its aggregations)"""
    panels = shared.get("confusion") or []
    return {stem: confusion_grid(page) for stem, page in pages("confusion_side_by_side", panels)} if panels else {}
