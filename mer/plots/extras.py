"""Distribution of an extra per-utterance output (a decode dir's `<name>.scp`, e.g. attention-fusion
modality weights): per reference class and per correct / incorrect prediction, one row per column.

Any model that returns `ModelOutput.extras` gets this figure; column names come from the model's
`describe()` (`extra_output_columns: {name: [...]}` in meta.json's "model"), else `name[k]`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from mer.plots.checks import nonfinite_reason
from mer.plots.common import class_colours
from mer.plots.figures import register_figure

MAX_COLUMNS = 8  # a wide output (an embedding-like extra) is shown by its first columns only


def column_names(name: str, width: int, meta: dict) -> list[str]:
    named = ((meta.get("model") or {}).get("extra_output_columns") or {}).get(name)
    if isinstance(named, list) and len(named) == width:
        return [f"{name}: {c}" for c in named]
    return [f"{name}[{k}]" for k in range(width)]


def _boxes(ax, groups: list[tuple[str, np.ndarray, object]]) -> None:
    """Box plots of (label, values, colour) groups, the empty ones left out, points jittered on top."""
    shown = [g for g in groups if len(g[1])]
    if not shown:
        return
    parts = ax.boxplot([v for _, v, _ in shown], patch_artist=True, showfliers=False, widths=0.6)
    ax.set_xticks(range(1, len(shown) + 1), [f"{lab}\nn={len(v)}" for lab, v, _ in shown], fontsize=8)
    for box, (_, _, colour) in zip(parts["boxes"], shown):
        box.set_facecolor(colour)
        box.set_alpha(0.6)
    rng = np.random.default_rng(0)  # the points themselves, so small sets are visible
    for i, (_, v, _) in enumerate(shown, 1):
        pts = v if len(v) <= 300 else rng.choice(v, 300, replace=False)
        ax.scatter(i + rng.uniform(-0.18, 0.18, len(pts)), pts, s=4, color="black", alpha=0.35, linewidths=0)


def extra_output_figure(values: np.ndarray, refs: Sequence[str], preds: Sequence[str], classes: Sequence[str],
                        names: Sequence[str], title: str | None = None) -> Figure:
    """values (N, K): one row of panels per column (at most MAX_COLUMNS): by reference class, and
    by whether the prediction was right."""
    values = np.asarray(values, dtype=float).reshape(len(refs), -1)[:, :MAX_COLUMNS]
    refs, preds = np.asarray(refs), np.asarray(preds)
    correct = refs == preds
    colours = class_colours(classes)
    k = values.shape[1]
    fig = Figure(figsize=(4 + 0.7 * len(classes), 3.2 * k))
    axes = fig.subplots(k, 2, squeeze=False, gridspec_kw={"width_ratios": [max(len(classes), 2), 2]})
    for col in range(k):
        v = values[:, col]
        left, right = axes[col]
        _boxes(left, [(c, v[refs == c], colours[c]) for c in classes])
        left.set_ylabel(names[col])
        left.set_title("by reference class", fontsize=9)
        _boxes(right, [("correct", v[correct], "tab:green"), ("incorrect", v[~correct], "tab:red")])
        right.set_title("by prediction", fontsize=9)
        for ax in (left, right):
            ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@register_figure("extra_outputs")
def extra_outputs(ctx) -> dict[str, Figure]:
    """each extra output a model saved (e.g. fusion_weights), per reference class and per correct/incorrect"""
    out, figures = ctx.out, {}
    for extra in out.meta.get("extra_outputs") or []:
        values = out.output(extra)
        reason = (f"meta.json lists extra output '{extra}' but there is no {extra}.scp" if values is None
                  else nonfinite_reason(values, out.utts, extra))
        if reason:
            ctx.skips.add(f"{ctx.name}_{extra}", out.path, reason)
            continue
        figures[f"{ctx.name}_{extra}"] = extra_output_figure(
            values, out.refs, out.preds, out.classes, column_names(extra, values.shape[1], out.meta), ctx.title)
    return figures
