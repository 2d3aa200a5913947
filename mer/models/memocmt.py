"""MemoCMT (system A): cross-modal transformer fusion of speech and text, and its unimodal ablations.

Two configurations:
- faithful: as the published code: one nn.MultiheadAttention per direction, then Linear,
  LayerNorm, Dropout; no residual, no feed-forward, no positional encoding, no padding mask;
  `cls` = position 0 of the concatenation (the first audio frame after attending to text).
- improved: padding masks in attention and pooling, residual connections and a
  feed-forward block per direction, `cls` = the text encoder's [CLS] position.

Both concatenate the two directions along time (n audio + m text positions) and reduce them with
cls / mean / min / max before MemoCMT's classifier head.

`attention_order` (faithful only) picks one of the two orders the published sources give for a
cross-attention:
- code: the published code's, MultiheadAttention (with its own output projection) -> Linear ->
  LayerNorm -> Dropout;
- eq2: the paper's eq. 2, LayerNorm[softmax(Q Wq (K Wk)^T / sqrt(d)) V Wv] W + b: the heads'
  attention output is normalised first and projected once, after the LayerNorm (Wq, Wk, Wv without
  bias, as printed). With several heads, d is the width of one head.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from mer.models.abs_model import AbsEmotionModel, ModelOutput, register_model
from mer.models.layers import ClassifierHead
from mer.models.pooling import AGGREGATIONS, pool, pooled_dim
from mer.models.streams import build_stream
from mer.utils.choices import check_choice

VARIANTS = ("faithful", "improved")
ATTENTION_ORDERS = ("code", "eq2")


class CrossAttentionBlock(nn.Module):
    """Query stream attends to key/value stream."""

    def __init__(self, dim: int, heads: int, dropout: float, improved: bool, ffn_dim: int):
        super().__init__()
        self.improved = improved
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.linear = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        if improved:
            self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(), nn.Dropout(dropout),
                                     nn.Linear(ffn_dim, dim))
            self.ffn_norm = nn.LayerNorm(dim)

    def forward(self, query, key, key_mask=None):
        if not self.improved:
            out, _ = self.attn(query, key, key, need_weights=False)
            return self.dropout(self.norm(self.linear(out)))
        out, _ = self.attn(query, key, key, key_padding_mask=None if key_mask is None else ~key_mask,
                           need_weights=False)
        x = self.norm(query + self.dropout(self.linear(out)))
        return self.ffn_norm(x + self.dropout(self.ffn(x)))


class Eq2CrossAttention(nn.Module):
    """The paper's eq. 2: LayerNorm[softmax(Q Wq (K Wk)^T / sqrt(d)) V Wv] W + b, then Dropout (the
    dropout, on the attention weights and the output, is the published code's; eq. 2 has none).
    Multi-head as the paper says in words: the heads split Wq/Wk/Wv's output and are concatenated
    before the LayerNorm."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"model.num_heads ({heads}) must divide the fusion width ({dim})")
        self.heads = heads
        self.w_q, self.w_k, self.w_v = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.attn_dropout = dropout
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, dim)  # W and b
        self.dropout = nn.Dropout(dropout)

    def forward(self, query, key):  # no padding mask: the faithful model runs unbatched
        b, n, d = query.shape

        def split(x):  # (B, L, D) -> (B, heads, L, D / heads)
            return x.view(b, -1, self.heads, d // self.heads).transpose(1, 2)

        att = nn.functional.scaled_dot_product_attention(
            split(self.w_q(query)), split(self.w_k(key)), split(self.w_v(key)),
            dropout_p=self.attn_dropout if self.training else 0.0)
        return self.dropout(self.out(self.norm(att.transpose(1, 2).reshape(b, n, d))))


def _projection(in_dim: int, dim: int) -> nn.Module:
    # The published model needs both encoders at 768; other encoder pairs are projected to `dim`.
    return nn.Identity() if in_dim == dim else nn.Linear(in_dim, dim)


def _check_choices(variant: str, aggregation: str, attention_order: str = "code") -> None:
    if attention_order not in ATTENTION_ORDERS:
        raise ValueError(f"model.attention_order must be one of {ATTENTION_ORDERS}, got '{attention_order}'")
    if attention_order != "code" and variant != "faithful":
        raise ValueError(f"model.attention_order '{attention_order}' is a form of the faithful model; "
                         f"the {variant} variant has its own (residual) order")
    check_choice("model.variant", variant, VARIANTS)
    check_choice("model.aggregation", aggregation, AGGREGATIONS)


@register_model("memocmt")
class MemoCMT(AbsEmotionModel):
    """System A: MemoCMT, cross-modal transformer fusion of speech and text (faithful or improved)."""

    inputs = ("audio", "text")

    def __init__(self, num_classes: int, input_infos: dict, variant: str = "improved",
                 aggregation: str = "min", dim: int | None = None, num_heads: int = 8, dropout: float = 0.05,
                 head_hidden: int = 128, ffn_dim: int = 1024, encoders: dict | None = None,
                 normalize_layers: bool = False, attention_order: Literal["code", "eq2"] = "code"):
        super().__init__()
        _check_choices(variant, aggregation, attention_order)
        self.variant, self.aggregation, self.attention_order = variant, aggregation, attention_order
        self.improved = variant == "improved"
        # Without masks, padding a batch changes every output: run such a model unbatched.
        self.padding_sensitive = not self.improved
        encoders = encoders or {}
        self.audio = build_stream("audio", input_infos["audio"], encoders.get("audio"), normalize_layers)
        self.text = build_stream("text", input_infos["text"], encoders.get("text"), normalize_layers)
        dim = dim or self.audio.out_dim
        self.audio_proj = _projection(self.audio.out_dim, dim)
        self.text_proj = _projection(self.text.out_dim, dim)
        # "text branch": audio queries text; "audio branch": text queries audio (published naming).
        if attention_order == "eq2":
            self.audio_queries_text = Eq2CrossAttention(dim, num_heads, dropout)
            self.text_queries_audio = Eq2CrossAttention(dim, num_heads, dropout)
        else:
            self.audio_queries_text = CrossAttentionBlock(dim, num_heads, dropout, self.improved, ffn_dim)
            self.text_queries_audio = CrossAttentionBlock(dim, num_heads, dropout, self.improved, ffn_dim)
        self.fusion_dropout = nn.Dropout(dropout)
        self.head = ClassifierHead(pooled_dim(aggregation, dim), head_hidden, num_classes, dropout)

    def describe(self) -> dict:
        return {"aggregation": self.aggregation, "variant": self.variant, "attention_order": self.attention_order}

    def forward(self, batch: dict) -> ModelOutput:
        a, a_mask = self.audio(batch)
        t, t_mask = self.text(batch)
        a, t = self.audio_proj(a), self.text_proj(t)
        if self.improved:
            a_out = self.audio_queries_text(a, t, t_mask)
            t_out = self.text_queries_audio(t, a, a_mask)
        else:
            a_out = self.audio_queries_text(a, t)
            t_out = self.text_queries_audio(t, a)
        fused = self.fusion_dropout(torch.cat([a_out, t_out], dim=1))  # (B, n + m, D)
        if self.aggregation == "cls" and self.improved:
            pooled = t_out[:, 0]  # the text encoder's [CLS] token after attending to audio
        elif self.improved:
            pooled = pool(fused, self.aggregation, torch.cat([a_mask, t_mask], dim=1))
        else:
            pooled = pool(fused, self.aggregation)
        return ModelOutput(self.head(pooled), pooled)


class Unimodal(AbsEmotionModel):
    """Table 1 ablations: one encoder's output pooled straight into the same head."""

    modality = ""

    @classmethod
    def input_names(cls, conf: dict) -> tuple[str, ...]:
        return (cls.modality,)

    def __init__(self, num_classes: int, input_infos: dict, variant: str = "improved",
                 aggregation: str = "cls", dim: int | None = None, dropout: float = 0.05,
                 head_hidden: int = 128, encoders: dict | None = None, normalize_layers: bool = False,
                 projection: str = "linear"):
        super().__init__()
        _check_choices(variant, aggregation)
        self.aggregation = aggregation
        self.improved = variant == "improved"
        self.padding_sensitive = not self.improved
        self.stream = build_stream(self.modality, input_infos[self.modality], (encoders or {}).get(self.modality),
                                   normalize_layers)
        dim = dim or self.stream.out_dim
        if projection not in ("linear", "mlp"):
            raise ValueError(f"model.projection must be linear or mlp, got '{projection}'")
        # mlp: a non-linear frame-wise layer before pooling, so min/max/mean pool learned features
        self.proj = (nn.Sequential(nn.Linear(self.stream.out_dim, dim), nn.GELU(), nn.Dropout(dropout))
                     if projection == "mlp" else _projection(self.stream.out_dim, dim))
        self.head = ClassifierHead(pooled_dim(aggregation, dim), head_hidden, num_classes, dropout)
        self.variant = variant

    def describe(self) -> dict:
        return {"aggregation": self.aggregation, "variant": self.variant}

    def forward(self, batch: dict) -> ModelOutput:
        x, mask = self.stream(batch)
        pooled = pool(self.proj(x), self.aggregation, mask if self.improved else None)
        return ModelOutput(self.head(pooled), pooled)


@register_model("audio_only")
class AudioOnly(Unimodal):
    """MemoCMT's audio-only ablation: the speech encoder's output pooled into the same head."""

    modality = "audio"


@register_model("text_only")
class TextOnly(Unimodal):
    """MemoCMT's text-only ablation: the text encoder's output pooled into the same head."""

    modality = "text"
