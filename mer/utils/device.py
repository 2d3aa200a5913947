"""Which torch device `--device auto|cpu|cuda|cuda:N` means."""
from __future__ import annotations

import torch


def pick_device(device: str = "auto") -> torch.device:
    """`auto`: the first visible GPU if there is one (choose GPUs with CUDA_VISIBLE_DEVICES), else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
