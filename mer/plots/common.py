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


def grid_shape(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(n, max_cols)
    return (n + cols - 1) // cols, cols
