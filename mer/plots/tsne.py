"""t-SNE of pooled utterance embeddings, coloured by reference emotion (memocmt Fig. 2)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.manifold import TSNE

from mer.plots.common import class_colours, grid_shape

MIN_POINTS = 4
EXACT_MAX = 300


def subsample(n: int, max_n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most max_n of n items, the same for the same seed."""
    if n <= max_n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_n, replace=False))


def perplexity_for(n: int) -> float:
    """sklearn's default 30, reduced for small sets: it must stay below n, and about n/3 keeps
    each point's neighbourhood smaller than the data."""
    return float(min(30.0, max(1.0, (n - 1) / 3)))


def tsne_2d(x: np.ndarray, seed: int = 0) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < MIN_POINTS:
        raise ValueError(f"t-SNE needs a 2-D array of at least {MIN_POINTS} points, got shape {x.shape}")
    # Exact gradients for small sets: faster there than Barnes-Hut and not approximate.
    method = "exact" if x.shape[0] <= EXACT_MAX else "barnes_hut"
    return TSNE(n_components=2, perplexity=perplexity_for(x.shape[0]), init="pca", random_state=seed,
                learning_rate="auto", method=method).fit_transform(x)


def _scatter(ax, xy: np.ndarray, refs: Sequence[str], labels: Sequence[str], colours: dict, title: str | None):
    refs = np.asarray(refs)
    size = 12 if len(refs) <= 500 else 5
    for lab in labels:
        m = refs == lab
        if m.any():
            ax.scatter(xy[m, 0], xy[m, 1], s=size, color=colours[lab], alpha=0.8, linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


def _legend(fig: Figure, labels: Sequence[str], colours: dict) -> None:
    # A figure legend, not an extra axes: panel count stays one per decode dir.
    handles = [Line2D([], [], ls="", marker="o", color=colours[lab], label=lab) for lab in labels]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(labels), 7), fontsize=8)


def tsne_figure(xy: np.ndarray, refs: Sequence[str], labels: Sequence[str], title: str | None = None) -> Figure:
    colours = class_colours(labels)
    fig = Figure(figsize=(5.5, 5.5), layout="constrained")
    _scatter(fig.add_subplot(), xy, refs, labels, colours, title)
    _legend(fig, labels, colours)
    return fig


def tsne_grid(panels: Sequence[tuple[str, np.ndarray, Sequence[str]]], labels: Sequence[str]) -> Figure:
    """Side by side: panels = [(title, xy, refs), ...], one axes per panel, one shared legend."""
    colours = class_colours(labels)
    rows, cols = grid_shape(len(panels))
    fig = Figure(figsize=(4 * cols, 4 * rows + 0.6), layout="constrained")
    for i, (title, xy, refs) in enumerate(panels):
        _scatter(fig.add_subplot(rows, cols, i + 1), xy, refs, labels, colours, title)
    _legend(fig, labels, colours)
    return fig
