"""Learned layer weights of a model (which encoder layers each stream uses), from decode dirs' meta.

Any model whose `describe()` returns `layer_weights: {stream: [w_0, ..., w_L]}` (index 0: the
encoder's input embeddings) gets this figure; it is read from meta.json's "model", per fold when
folds are pooled, so the bars are the mean over folds and the dots each fold.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from mer.plots.figures import register_figure


def layer_weights_by_stream(models: Sequence[Mapping]) -> dict[str, np.ndarray]:
    """{stream: (n_models, n_layers)} from several `describe()` dicts (one per fold); streams whose
    layer count differs between folds, or with no weights, are left out."""
    found: dict[str, list[list[float]]] = {}
    for model in models:
        for stream, weights in ((model or {}).get("layer_weights") or {}).items():
            found.setdefault(stream, []).append([float(w) for w in weights])
    return {s: np.array(ws) for s, ws in found.items() if ws and len({len(w) for w in ws}) == 1}


def layer_weights_figure(weights: Mapping[str, np.ndarray], title: str | None = None) -> Figure:
    """One panel per stream: mean weight per layer (bars), each fold's weights (dots)."""
    streams = list(weights)
    fig = Figure(figsize=(3.2 * len(streams) + 0.6, 3.6))
    axes = fig.subplots(1, len(streams), squeeze=False)[0]
    for ax, stream in zip(axes, streams):
        w = weights[stream]
        layers = np.arange(w.shape[1])
        ax.bar(layers, w.mean(0), color="tab:blue", alpha=0.6, label=f"mean of {len(w)}")
        if len(w) > 1:
            jitter = np.linspace(-0.2, 0.2, len(w))
            for i, row in enumerate(w):
                ax.plot(layers + jitter[i], row, "o", ms=2.5, color="black", alpha=0.6)
        ax.axhline(1 / w.shape[1], ls="--", lw=0.8, color="grey", label="uniform")
        ax.set_xticks(layers)
        ax.set_xlabel("layer (0 = embeddings)")
        ax.set_title(stream, fontsize=10)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("softmax weight")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@register_figure("layer_weights")
def layer_weights(ctx) -> dict[str, Figure]:
    """the learned layer weights per stream (a model's describe() `layer_weights`), over folds when pooled"""
    meta = ctx.out.meta
    models = list(meta["models"].values()) if "models" in meta else [meta.get("model")]
    weights = layer_weights_by_stream(models)
    return {f"{ctx.name}_layer_weights": layer_weights_figure(weights, ctx.title)} if weights else {}
