"""Emotion over time: a recording's segment posteriors (`mer-recognize --segment --plot`)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from mer.plots.common import Figure, class_colours, save_figure


def plot_over_time(results: Sequence[dict], classes: Sequence[str], out: str | Path, title: str = "") -> Path:
    """One line per class: its posterior in each segment, held over the segment's [start, end); the
    gaps between segments (silence, with the VAD) are left empty. Written atomically to `out`."""
    out = Path(out)
    fmt = out.suffix.lstrip(".") or "png"
    colours = class_colours(list(classes))
    span = max((r["end"] for r in results), default=1.0)
    minutes = span > 300
    scale = 60.0 if minutes else 1.0
    fig = Figure(figsize=(min(24, 6 + span / scale / (2 if minutes else 20)), 3.6))
    ax = fig.add_subplot()
    for c in classes:
        xs, ys = [], []
        for r in results:
            xs += [r["start"] / scale, r["end"] / scale, float("nan")]
            ys += [r["posteriors"][c]] * 2 + [float("nan")]
        ax.plot(xs, ys, color=colours[c], label=c, linewidth=1.5)
    ax.set_xlim(0, span / scale)
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (min)" if minutes else "time (s)")
    ax.set_ylabel("posterior")
    ax.set_title(title or f"{len(results)} segments")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
    return save_figure(fig, out.with_suffix(""), formats=(fmt,))[0]
