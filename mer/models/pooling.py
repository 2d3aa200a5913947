"""Reduce a sequence (B, T, D) to one vector: cls, mean, min, max (B, D), or mean+std (B, 2D:
statistics pooling, the mean and the standard deviation over time side by side).

`mask` (B, T) is True on real positions. With mask=None every position counts, padding included,
which is what MemoCMT's published code does (it never builds a mask).
"""
from __future__ import annotations

import torch

AGGREGATIONS = ("cls", "mean", "min", "max", "mean+std")


def pooled_dim(how: str, dim: int) -> int:
    """The width of `pool(x, how)` for frames of width `dim`."""
    return 2 * dim if how == "mean+std" else dim


def pool(x: torch.Tensor, how: str, mask: torch.Tensor | None = None, cls_index: int = 0) -> torch.Tensor:
    if how == "cls":
        return x[:, cls_index]
    if how == "mean+std":
        mean = pool(x, "mean", mask)
        sq = pool((x - mean.unsqueeze(1)) ** 2, "mean", mask)
        return torch.cat([mean, sq.clamp(min=1e-8).sqrt()], dim=-1)
    if mask is None:
        if how == "mean":
            return x.mean(dim=1)
        if how == "min":
            return x.min(dim=1).values
        if how == "max":
            return x.max(dim=1).values
    else:
        m = mask.unsqueeze(-1)
        if how == "mean":
            return (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
        if how == "min":
            return x.masked_fill(~m, float("inf")).min(dim=1).values
        if how == "max":
            return x.masked_fill(~m, float("-inf")).max(dim=1).values
    raise ValueError(f"unknown aggregation '{how}'; choose from {', '.join(AGGREGATIONS)}")


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool mask, True on real positions."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]
