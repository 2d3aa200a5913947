"""Why an array cannot be plotted: NaN or inf values, or every row the same (a collapsed model).

Each check returns None when the array can be drawn, else a one-line reason naming the problem."""
from __future__ import annotations

from typing import Sequence

import numpy as np

# Rows closer than this (relative to the largest value) count as identical: float32 noise of a
# collapsed model must not pass for structure, and t-SNE's PCA start divides by their spread.
CONSTANT_RTOL = 1e-6


def nonfinite_reason(values: np.ndarray, utts: Sequence[str], what: str) -> str | None:
    bad = ~np.all(np.isfinite(np.asarray(values, dtype=np.float64).reshape(len(utts), -1)), axis=1)
    if not bad.any():
        return None
    first = utts[int(np.flatnonzero(bad)[0])]
    return f"{what} of {int(bad.sum())} of {len(utts)} utterance(s) contain NaN or inf (first: {first})"


def constant_rows_reason(values: np.ndarray, what: str) -> str | None:
    x = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    spread = float(np.max(np.abs(x - x[0]))) if x.size else 0.0
    if spread > CONSTANT_RTOL * max(1.0, float(np.max(np.abs(x))) if x.size else 0.0):
        return None
    return (f"{what} are the same for all {len(x)} utterances (largest difference {spread:.3g}): "
            f"the model gives every input one vector (collapsed)")
