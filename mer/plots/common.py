"""Shared figure helpers: atomic saving and one colour per class across every panel."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # headless; figures are built with the object API, never shown
from matplotlib.figure import Figure  # noqa: E402

from mer.utils.fileio import atomic_open  # noqa: E402

DPI = 150
FORMATS = ("png", "pdf")


def class_colours(labels: Sequence[str]) -> dict[str, tuple]:
    """A fixed colour per label (by its position in `classes`), so panels agree."""
    cmap = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {lab: cmap(i % cmap.N) for i, lab in enumerate(labels)}


def save_figure(fig: Figure, stem: str | os.PathLike, formats: Sequence[str] = ("png",),
                dpi: int = DPI) -> list[Path]:
    """Write `stem.<fmt>` for each format via a temporary name + rename; returns the paths."""
    paths = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unsupported figure format '{fmt}' (use one of {', '.join(FORMATS)})")
        path = Path(f"{stem}.{fmt}")
        with atomic_open(path, "wb", encoding=None) as f:
            fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths


# Panels per page of a side-by-side figure: 3 x 4 still reads on a screen; more are split into pages
PANELS_PER_PAGE = 12


def pages(name: str, panels: Sequence) -> list[tuple[str, list]]:
    """(file stem, panels) per page: `name` when one page holds them all, else `name_p1`, `name_p2`, ..."""
    chunks = [list(panels[i:i + PANELS_PER_PAGE]) for i in range(0, len(panels), PANELS_PER_PAGE)]
    if len(chunks) <= 1:
        return [(name, chunks[0] if chunks else [])]
    return [(f"{name}_p{k}", chunk) for k, chunk in enumerate(chunks, 1)]


def grid_shape(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(n, max_cols)
    return (n + cols - 1) // cols, cols
