"""Tracing a model for ONNX export where torch's TorchScript exporter would freeze shapes.

`nn.MultiheadAttention` reshapes by `bsz * num_heads` and `tgt_len`, Python ints, which a trace
records as constants (pytorch/pytorch#122321): the exported graph then runs on the example's batch
size and lengths only. Inside `attention_traceable(model)` every such module runs the same
computation with heads split and joined by constant-size split/cat instead.
"""
from __future__ import annotations

import math
import types
from contextlib import contextmanager

import torch
from torch import nn


class ExportError(ValueError):
    """A model that does not export, or an export whose outputs differ from PyTorch's."""


def traceable_attention(self: nn.MultiheadAttention, query, key, value, key_padding_mask=None, need_weights=True,
                        attn_mask=None, average_attn_weights=True, is_causal=False):
    """nn.MultiheadAttention's inference forward (batch_first, one packed in-projection) without the
    reshapes by Python ints that a trace freezes (pytorch/pytorch#122321: the exported graph would
    take the example's batch size and lengths only): heads are split and joined by constant-size
    split/cat. Used while tracing only; the export is checked against the module's own forward."""
    if attn_mask is not None or is_causal or not self.batch_first or not self._qkv_same_embed_dim:
        raise ExportError("nn.MultiheadAttention with an attention mask, causal or not batch_first: not exportable")
    d = self.head_dim
    w, b = self.in_proj_weight.chunk(3), (self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else [None] * 3)
    q, k, v = (torch.stack(nn.functional.linear(x, wi, bi).split(d, dim=-1), dim=1)  # (B, H, T, d)
               for x, wi, bi in zip((query, key, value), w, b))
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    if key_padding_mask is not None:  # True (or -inf, as nn.TransformerEncoderLayer hands it) on padding
        pad = key_padding_mask[:, None, None, :]
        scores = scores.masked_fill(pad, float("-inf")) if pad.dtype == torch.bool else scores + pad
    out = torch.cat((torch.softmax(scores, dim=-1) @ v).unbind(1), dim=-1)
    return self.out_proj(out), None


@contextmanager
def attention_traceable(model: nn.Module):
    """Every nn.MultiheadAttention of `model` runs `traceable_attention` inside the block."""
    modules = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    for m in modules:
        m.forward = types.MethodType(traceable_attention, m)
    try:
        yield
    finally:
        for m in modules:
            del m.forward
