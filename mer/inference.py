"""Running a model: the precision it runs in on a device, one batch forward, its outputs over a
dataset, and a checkpoint's weights read safely.

The trainer validates with `predict`; `mer.bin.infer` and `mer.recognizer` decode with it, so a
recording decoded outside the recipe goes through the same batching as its decode dir. This module
knows no trainer and no model class: a trained model is loaded by `mer.trained_model`.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn

from mer.inputs import BucketBatchSampler, EmotionDataset, collate


def amp_dtype(setting, device: torch.device):
    """None (full precision) on CPU or when off; bf16 where the GPU has it, else fp16."""
    if device.type != "cuda" or setting in (False, "false"):
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def forward(model, batch: dict, device: torch.device, amp):
    """The model's output on one batch, moved to `device`, under autocast when `amp` is a dtype."""
    with torch.autocast(device.type, dtype=amp) if amp else nullcontext():
        return model(to_device(batch, device))


@torch.no_grad()
def predict(model: nn.Module, dataset: EmotionDataset, device: torch.device, batch_size: int,
            amp=None) -> dict:
    """Per utterance of `dataset.utts` (in that order): logits, posteriors, labels, and the
    embeddings and extra outputs the model gives (None / absent when it gives none).

    A padding-sensitive model (MemoCMT `faithful`) sees one sample at a time, as the published code
    validates and tests with batch size 1.
    """
    model.eval()
    if getattr(model, "padding_sensitive", False):
        batch_size = 1
    lengths = [dataset.length(i) for i in range(len(dataset))]
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=False, bucketing=batch_size > 1)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)
    rows: dict[str, int] = {}
    logits, labels, embeddings, extras = [], [], [], {}
    for batch in loader:
        o = forward(model, batch, device, amp)
        for u in batch["utts"]:
            rows[u] = len(rows)
        logits.append(o.logits.float().cpu())
        labels.append(batch["labels"])
        if o.embedding is not None:
            embeddings.append(o.embedding.float().cpu())
        for name, value in o.extras.items():
            extras.setdefault(name, []).append(value.float().cpu().reshape(len(batch["utts"]), -1))
    perm = torch.tensor([rows[u] for u in dataset.utts], dtype=torch.long)
    out_logits = torch.cat(logits)[perm]
    return {"utts": list(dataset.utts), "logits": out_logits, "posteriors": torch.softmax(out_logits, -1),
            "labels": torch.cat(labels)[perm],
            "embeddings": torch.cat(embeddings)[perm] if embeddings else None,
            "extras": {k: torch.cat(v)[perm] for k, v in extras.items()}}
