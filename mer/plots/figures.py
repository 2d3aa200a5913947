"""The figure registry and the loop that draws every registered figure for a set of decode outputs.

A figure kind is a function registered with `@register_figure(name)` in a module of mer.plots (the
package is scanned: a new figure is one new module there, plus its test):
- scope "output" (the default): `fn(ctx: FigureContext) -> {file stem: Figure}`, called once per
  decode output (one fold, or a configuration's folds pooled). What it cannot draw it names in
  `ctx.skips` with the reason; panels for a side-by-side figure it appends to a list in
  `ctx.shared` (`ctx.shared.setdefault(key, []).append(panel)`: the lists of all outputs are joined).
- scope "set": `fn(shared: dict, outputs) -> {file stem: Figure}`, called once when several outputs
  are drawn together, with what the "output" figures left in `shared`.
`python -m mer.bin.list figure` lists them.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
from matplotlib.figure import Figure

from mer.plots.common import save_figure
from mer.registry import RegistryError, new_registry
from mer.utils.fileio import write_text_atomic

SKIPPED_FILE = "skipped.txt"


@dataclass(frozen=True)
class FigureKind:
    name: str
    fn: Callable
    scope: Literal["output", "set"]
    description: str


def _check(name: str, entry) -> None:
    if not isinstance(entry, FigureKind) or entry.scope not in ("output", "set"):
        raise RegistryError(f"figure '{name}': register a function with @register_figure, got {entry!r}")


FIGURES = new_registry("figure", package="mer.plots", check=_check)


def register_figure(name: str, *, scope: Literal["output", "set"] = "output"):
    """Function decorator: draw `fn` in stage 6 (mer.bin.plot) for every decode output (scope
    "output") or once across outputs drawn together (scope "set"); its docstring's first line says
    what it shows."""
    def add(fn: Callable) -> Callable:
        doc = (fn.__doc__ or "").strip().split("\n", 1)[0].strip()
        FIGURES.register(name, FigureKind(name, fn, scope, doc), description=doc)
        return fn
    return add


class Skips(list):
    """Figures not drawn, with why: logged as they happen, written to skipped.txt at the end."""

    def add(self, figure: str, source: str, reason: str) -> None:
        self.append(f"{figure}\t{source}: {reason}")
        print(f"mer.bin.plot: warning: {source}: no {figure}: {reason}", file=sys.stderr)


@dataclass
class FigureContext:
    """What an "output" figure draws from: one decode output, its file stem and title, its models
    (folds), the t-SNE settings, where to name skips, and panels shared with the "set" figures."""
    out: object                      # mer.scoring.decode_dir.DecodeOutputs
    name: str
    title: str
    parts: list[tuple[str, np.ndarray]]
    tsne_max: int
    seed: int
    skips: Skips
    shared: dict
    title_from: str = "meta"

    def part_title(self, part: str) -> str:
        """The title of one part's (fold's) own panel; the output's title without a part."""
        return output_title(self.out, self.title_from, part) if part else self.title


def output_name(out) -> str:
    m = out.meta
    fold = f"fold{m['fold']}" if m.get("fold") is not None else "pooled"
    parts = [m.get("protocol"), m.get("config"), fold, m.get("test_set")]
    return "_".join(str(p) for p in parts if p is not None).replace("/", "-")


def output_title(out, title_from: str, part: str | None = None) -> str:
    """The title of an output's figures; with `part` (a fold of a pooled output, drawn on its own),
    the title of that fold's panel: it names the fold, not the pooling."""
    if title_from == "path":
        return f"{out.path}\n{part}" if part else out.path
    m = out.meta
    agg = f" [{m['aggregation']}]" if m.get("aggregation") else ""
    n = len(m.get("pooled_from", []))
    fold = f"fold {m['fold']}" if m.get("fold") is not None else f"{n} fold{'s' if n != 1 else ''} pooled"
    return f"{m.get('config')}{agg}\n{m.get('protocol')}, {part or fold}, {m.get('test_set') or ''}".rstrip(", ")


def model_parts(out) -> list[tuple[str, np.ndarray]]:
    """(label, row indices) per model: each fold of a pooled output is a model of its own, with an
    embedding space of its own, so its embeddings are never mixed with another fold's."""
    folds = out.meta.get("pooled_from") or []
    if len(folds) <= 1:
        return [(f"fold {out.meta['fold']}" if out.meta.get("fold") is not None else "", np.arange(len(out.utts)))]
    owner = np.array([u.split("/", 1)[0] for u in out.utts])
    return [(f, np.flatnonzero(owner == f)) for f in folds if (owner == f).any()]


def make_plots(outputs: Sequence, out_dir: str | Path, title_from: str = "meta", tsne_max: int = 2000,
               seed: int = 0, formats: Sequence[str] = ("png",), skips: Skips | None = None,
               drawn: dict | None = None) -> dict[str, Figure]:
    """Draw and save every registered figure that can be drawn; returns {file stem: Figure} (already
    saved). What cannot be drawn is added to `skips` and listed in <out_dir>/skipped.txt (removed when
    nothing was skipped, so that the file always describes the last run). `drawn`: a dict kept
    across calls with the same settings (mer.plots.plan), so that an output drawn again (a system's
    own figures, then the side-by-side ones) reuses its figures, panels and skips; it is keyed by
    the output objects, which must outlive it."""
    out_dir = Path(out_dir)
    skips = Skips() if skips is None else skips
    kinds = [FIGURES[n] for n in FIGURES]
    figures: dict[str, Figure] = {}
    names: list[str] = []
    for out in outputs:
        name = output_name(out)
        while name in names:  # the same dir twice, or colliding meta
            name += "_"
        names.append(name)
    shared: dict = {}
    for name, out in zip(names, outputs):
        key = (id(out), name)
        if drawn is not None and key in drawn:
            own_figures, own_shared, own_skips = drawn[key]
        else:
            own_figures, own_shared, own_skips = {}, {}, Skips()
            ctx = FigureContext(out, name, output_title(out, title_from), model_parts(out), tsne_max, seed,
                                own_skips, own_shared, title_from)
            for kind in kinds:
                if kind.scope == "output":
                    own_figures.update(kind.fn(ctx))
            if drawn is not None:
                drawn[key] = (own_figures, own_shared, own_skips)
        figures.update(own_figures)
        skips.extend(own_skips)
        for panel_kind, panels in own_shared.items():
            shared.setdefault(panel_kind, []).extend(panels)
    if len(outputs) > 1:
        for kind in kinds:
            if kind.scope == "set":
                figures.update(kind.fn(shared, outputs))
    for stem, fig in figures.items():
        save_figure(fig, out_dir / stem, formats)
    skipped = out_dir / SKIPPED_FILE
    if skips:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(skipped, "# figure\twhy it was not drawn\n" + "\n".join(skips) + "\n")
    elif skipped.exists():
        skipped.unlink()
    return figures
