"""Building blocks shared by the models."""
from __future__ import annotations

import torch
from torch import nn


class LayerMix(nn.Module):
    """Learnable softmax-weighted sum over the encoder layers stored side by side in a dump.

    Input (B, T, L * D) -> (B, T, D). With L == 1 and no normalisation it is the identity. Emotion
    lives in the middle layers of speech encoders more than in the last, so recipes dump all layers
    and learn the mix. With `normalize`, each layer is layer-normalised (no parameters) before the sum, as s3prl's
    featurizer does: encoder layers differ in scale by orders of magnitude (Whisper has outlier
    dimensions), and unnormalised the largest layer dominates whatever the weights say.
    """

    def __init__(self, num_layers: int, dim: int, normalize: bool = False):
        super().__init__()
        self.num_layers, self.dim, self.normalize = num_layers, dim, normalize
        self.weights = nn.Parameter(torch.zeros(num_layers)) if num_layers > 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        x = x.view(b, t, self.num_layers, self.dim)
        if self.normalize:
            x = nn.functional.layer_norm(x, (self.dim,))
        if self.weights is None:
            return x[:, :, 0]
        return (x * torch.softmax(self.weights, dim=0)[:, None]).sum(dim=2)


class ClassifierHead(nn.Module):
    """MemoCMT's head: dropout -> Linear(d, hidden) -> LeakyReLU -> dropout -> Linear(hidden, C);
    hidden 0: dropout -> Linear(d, C), a linear read-out."""

    def __init__(self, dim: int, hidden: int, num_classes: int, dropout: float):
        super().__init__()
        if hidden == 0:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, num_classes))
            return
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, hidden), nn.LeakyReLU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
