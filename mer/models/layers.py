"""Building blocks shared by the models."""
from __future__ import annotations

import torch
from torch import nn


class LayerMix(nn.Module):
    """Learnable softmax-weighted sum over the encoder layers stored side by side in a dump.

    Input (B, T, L * D) -> (B, T, D). With L == 1 it is the identity. Emotion lives in the middle
    layers of speech encoders more than in the last, so recipes dump all layers and learn the mix.
    """

    def __init__(self, num_layers: int, dim: int):
        super().__init__()
        self.num_layers, self.dim = num_layers, dim
        self.weights = nn.Parameter(torch.zeros(num_layers)) if num_layers > 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weights is None:
            return x
        b, t, _ = x.shape
        x = x.view(b, t, self.num_layers, self.dim)
        return (x * torch.softmax(self.weights, dim=0)[:, None]).sum(dim=2)


class ClassifierHead(nn.Module):
    """MemoCMT's head: dropout -> Linear(d, hidden) -> LeakyReLU -> dropout -> Linear(hidden, C)."""

    def __init__(self, dim: int, hidden: int, num_classes: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, hidden), nn.LeakyReLU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
