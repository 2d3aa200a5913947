"""t-SNE of pooled utterance embeddings, coloured by reference emotion (memocmt Fig. 2)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.manifold import TSNE

from mer.plots.checks import constant_rows_reason, nonfinite_reason
from mer.plots.common import class_colours, grid_shape, pages
from mer.plots.figures import register_figure
from mer.scoring.decode_dir import ScoringError

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


def tsne_panels(ctx) -> list:
    """One t-SNE panel per model (fold) that can have one; the others are named in `ctx.skips`."""
    out, figure = ctx.out, f"{ctx.name}_tsne"
    try:
        emb = out.embeddings()
    except ScoringError as e:  # folds whose embeddings cannot share one array: a `select` combiner's picks
        ctx.skips.add(figure, out.path, str(e))
        return []
    if emb is None:
        ctx.skips.add(figure, out.path, "no embeddings.scp")
        return []
    if len(out.utts) < MIN_POINTS:
        ctx.skips.add(figure, out.path, f"{len(out.utts)} utterances are too few for t-SNE")
        return []
    panels = []
    for label, rows in ctx.parts:
        where = f"{out.path}{' ' + label if label else ''}"
        if len(rows) < MIN_POINTS:
            ctx.skips.add(figure, where, f"{len(rows)} utterances, too few for t-SNE")
            continue
        idx = rows[subsample(len(rows), ctx.tsne_max, ctx.seed)]
        reason = (nonfinite_reason(emb[idx], [out.utts[i] for i in idx], "embeddings")
                  or constant_rows_reason(emb[idx], "embeddings"))
        if reason:
            ctx.skips.add(figure, where, reason)
            continue
        xy = tsne_2d(emb[idx], ctx.seed)
        if not np.all(np.isfinite(xy)):  # nearly constant embeddings can still defeat it
            ctx.skips.add(figure, where, "t-SNE gave non-finite coordinates (embeddings nearly constant?)")
            continue
        sub = f" ({len(idx)} of {len(rows)} utts)" if len(idx) < len(rows) else ""
        panels.append((f"{ctx.part_title(label)}{sub}", xy, [out.refs[i] for i in idx]))
    return panels


@register_figure("tsne")
def tsne(ctx) -> dict[str, Figure]:
    """t-SNE of the embeddings coloured by reference class, one panel per fold (each its own model)"""
    panels = tsne_panels(ctx)
    if panels:  # side by side across configs: one named fold each
        ctx.shared.setdefault("tsne", []).append(panels[0])
    if len(panels) == 1:
        return {f"{ctx.name}_tsne": tsne_figure(panels[0][1], panels[0][2], ctx.out.classes, panels[0][0])}
    return {f"{ctx.name}_tsne": tsne_grid(panels, ctx.out.classes)} if panels else {}


@register_figure("tsne_side_by_side", scope="set")
def tsne_side_by_side(shared: dict, outputs) -> dict[str, Figure]:
    """each output's first t-SNE panel side by side, named in its title"""
    panels = shared.get("tsne") or []
    labels = list(dict.fromkeys(c for out in outputs for c in out.classes))
    if len(panels) <= 1:
        return {}
    return {stem: tsne_grid(page, labels) for stem, page in pages("tsne_side_by_side", panels)}
