"""System D: layer adapters (LA) and multi-level fusion (MF) of speech, text and context streams.

Streams, each a named input of any type (`mer.models.streams`):
- speech (S): a speech encoder's every hidden state (a dump of all layers, or a raw-waveform
  encoder fine-tuned in the model);
- text (T): a text encoder's every hidden state over (ASR) transcripts (fine-tuned in the model, or
  a dump of a frozen one);
- context (C): a frozen Whisper encoder's states, dumped once (every layer or the last).

Layer adapter (eqs. 1-2), per stream listed in `adapters`: for every encoder layer l, FC -> activation
-> LayerNorm, then a softmax-weighted sum over layers (the weights are what `describe()` reports).
A stream without an adapter reads its encoder's last layer, linearly projected to `dim`.
`adapter_input_norm: true` layer-normalises each layer (no parameters) before its FC, as s3prl's
featurizer does: Whisper's layers have outlier dimensions orders of magnitude larger than the rest
(default false: eq. 1 as printed). `frame_pool: k` (default 1, the paper) averages every k frames
of the speech and context streams first (padding excluded), a cheaper model for small machines.

Multi-level fusion (eqs. 3-8), `fusion: mf`: one transformer encoder layer per stream; block 1: S
attends to T, the result attends to C; block 2: T attends to S, the result attends to C (each
block a transformer layer with two cross-attentions, residuals and LayerNorm, then a feed-forward);
the two block outputs and C are max-pooled over time (padding masked), concatenated, FC. With a
stream left out its attention step is skipped (without C the blocks attend to S or T only; without
T block 1 attends to C alone and block 2 does not exist). `fusion: concat` (the tables' rows without
MF): every stream max-pooled, concatenated, FC.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from mer.models.abs_model import AbsEmotionModel, ModelOutput, register_model
from mer.models.pooling import pool
from mer.models.streams import build_stream
from mer.utils.choices import check_choice

STREAMS = ("speech", "text", "context")
FUSIONS = ("mf", "concat")
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
# The two MLF blocks: query stream, then the streams it attends to, in order (eqs. 4-7).
BLOCKS = (("speech", ("text", "context")), ("text", ("speech", "context")))


class LayerAdapter(nn.Module):
    """(B, T, L * D_in) every hidden state side by side -> (B, T, dim): per layer FC, activation and
    LayerNorm (each layer its own parameters), then a learned softmax-weighted sum over layers."""

    def __init__(self, num_layers: int, in_dim: int, dim: int, activation: str = "relu",
                 input_norm: bool = False):
        super().__init__()
        self.num_layers, self.in_dim, self.dim, self.input_norm = num_layers, in_dim, dim, input_norm
        # L fully connected layers as one batched weight, initialised as nn.Linear would be
        bound = 1 / math.sqrt(in_dim)
        self.fc_weight = nn.Parameter(torch.empty(num_layers, in_dim, dim).uniform_(-bound, bound))
        self.fc_bias = nn.Parameter(torch.empty(num_layers, dim).uniform_(-bound, bound))
        self.activation = ACTIVATIONS[activation]()
        self.norm_weight = nn.Parameter(torch.ones(num_layers, dim))
        self.norm_bias = nn.Parameter(torch.zeros(num_layers, dim))
        self.layer_logits = nn.Parameter(torch.zeros(num_layers))  # uniform weights at the start

    def layer_weights(self) -> torch.Tensor:
        return torch.softmax(self.layer_logits, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        x = x.view(b, t, self.num_layers, self.in_dim)
        if self.input_norm:
            x = nn.functional.layer_norm(x, (self.in_dim,))
        h = torch.einsum("btli,lio->btlo", x, self.fc_weight) + self.fc_bias
        h = nn.functional.layer_norm(self.activation(h), (self.dim,)) * self.norm_weight + self.norm_bias
        return torch.einsum("btlo,l->bto", h, self.layer_weights())


class LastLayer(nn.Module):
    """No adapter: the encoder's last stored layer (`select`, before any frame pooling: cheaper),
    linearly projected to `dim` when it differs."""

    def __init__(self, num_layers: int, in_dim: int, dim: int):
        super().__init__()
        self.num_layers, self.in_dim = num_layers, in_dim
        self.proj = nn.Identity() if in_dim == dim else nn.Linear(in_dim, dim)

    def select(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., (self.num_layers - 1) * self.in_dim:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class MLFBlock(nn.Module):
    """A transformer layer whose self-attention is replaced by cross-attentions to one or more key
    streams in turn (eqs. 4-7): x = LN(x + Attn(x, k_i)) for each key stream, then x = LN(x + FFN(x))."""

    def __init__(self, num_keys: int, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.attns = nn.ModuleList(nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
                                   for _ in range(num_keys))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(num_keys))
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ffn_dim, dim))
        self.ffn_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keys: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        for attn, norm, (k, k_mask) in zip(self.attns, self.norms, keys):
            out, _ = attn(x, k, k, key_padding_mask=~k_mask, need_weights=False)
            x = norm(x + self.dropout(out))
        return self.ffn_norm(x + self.dropout(self.ffn(x)))


def pool_frames(x: torch.Tensor, mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of every k consecutive frames (B, T, F) -> (B, ceil(T / k), F), padded frames excluded, so a
    sample's output does not depend on how much padding its batch gives it."""
    if k == 1:
        return x, mask
    b, t, f = x.shape
    pad = (-t) % k
    x = nn.functional.pad(x * mask.unsqueeze(-1), (0, 0, 0, pad)).view(b, -1, k, f)
    m = nn.functional.pad(mask, (0, pad)).view(b, -1, k)
    count = m.sum(-1, keepdim=True)
    return x.sum(2) / count.clamp(min=1), count.squeeze(-1) > 0


def _check_streams(streams) -> tuple[str, ...]:
    streams = tuple(streams)
    if not streams or any(s not in STREAMS for s in streams) or len(set(streams)) != len(streams):
        raise ValueError(f"model.streams must be distinct names among {STREAMS}, got {list(streams)}")
    return streams


def _check(streams, adapters, fusion, activation) -> None:
    _check_streams(streams)
    stray = [a for a in adapters if a not in streams]
    if stray:
        raise ValueError(f"model.adapters names {stray}, which are not in model.streams {list(streams)}")
    check_choice("model.fusion", fusion, FUSIONS)
    check_choice("model.activation", activation, ACTIVATIONS)


@register_model("mf_la")
class MFLA(AbsEmotionModel):
    """System D: layer adapters and multi-level fusion of speech, text and context streams.

    Every ablation row of the paper's Tables I and II is a choice of `streams`, `adapters`, `fusion`."""

    @classmethod
    def input_names(cls, conf: dict) -> tuple[str, ...]:
        return _check_streams(conf.get("streams", STREAMS))

    def __init__(self, num_classes: int, input_infos: dict, streams=STREAMS, adapters=("speech", "text"),
                 fusion: str = "mf", dim: int = 256, num_heads: int = 4, ffn_dim: int = 1024,
                 layer_dropout: float = 0.1, dropout: float = 0.5, activation: str = "relu",
                 frame_pool: int = 1, adapter_input_norm: bool = False, encoders: dict | None = None):
        super().__init__()
        streams, adapters = tuple(streams), tuple(adapters)
        _check(streams, adapters, fusion, activation)
        if frame_pool < 1:
            raise ValueError(f"model.frame_pool must be >= 1, got {frame_pool}")
        self.streams, self.adapters, self.fusion, self.frame_pool = streams, adapters, fusion, frame_pool
        encoders = encoders or {}
        self.sources = nn.ModuleDict()
        self.adapt = nn.ModuleDict()
        for s in streams:
            stream = build_stream(s, input_infos[s], encoders.get(s), all_layers=True)
            self.sources[s] = stream
            self.adapt[s] = (LayerAdapter(stream.num_layers, stream.out_dim, dim, activation, adapter_input_norm)
                             if s in adapters
                             else LastLayer(stream.num_layers, stream.out_dim, dim))
        n_pooled = len(streams)
        if fusion == "mf":
            # eq. 3: one transformer layer per stream (not named `encoder`: these are not pretrained)
            self.self_layers = nn.ModuleDict({s: nn.TransformerEncoderLayer(
                dim, num_heads, ffn_dim, layer_dropout, batch_first=True) for s in streams})
            self.blocks = nn.ModuleDict()
            for query, keys in BLOCKS:
                present = [k for k in keys if k in streams]
                if query in streams and present:
                    self.blocks[query] = MLFBlock(len(present), dim, num_heads, ffn_dim, layer_dropout)
            n_pooled = sum(q in streams for q, _ in BLOCKS) + ("context" in streams)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(n_pooled * dim, num_classes)

    def _mf(self, h: dict, masks: dict) -> list[torch.Tensor]:
        h = {s: self.self_layers[s](x, src_key_padding_mask=~masks[s]) for s, x in h.items()}
        pooled = []
        for query, keys in BLOCKS:
            if query not in h:
                continue
            x = h[query]
            if query in self.blocks:
                x = self.blocks[query](x, [(h[k], masks[k]) for k in keys if k in h])
            pooled.append(pool(x, "max", masks[query]))
        if "context" in h:
            pooled.append(pool(h["context"], "max", masks["context"]))
        return pooled

    def forward(self, batch: dict) -> ModelOutput:
        h, masks = {}, {}
        for s in self.streams:
            x, masks[s] = self.sources[s](batch)
            if isinstance(self.adapt[s], LastLayer):
                x = self.adapt[s].select(x)
            if s != "text":
                x, masks[s] = pool_frames(x, masks[s], self.frame_pool)
            h[s] = self.adapt[s](x)
        if self.fusion == "mf":
            pooled = self._mf(h, masks)
        else:
            pooled = [pool(h[s], "max", masks[s]) for s in self.streams]
        embedding = torch.cat(pooled, dim=-1)
        return ModelOutput(self.head(self.dropout(embedding)), embedding)

    def describe(self) -> dict:
        """The learned layer weights of every adapter (index 0: the encoder's input embeddings)."""
        weights = {s: [round(float(w), 6) for w in self.adapt[s].layer_weights().detach()]
                   for s in self.streams if isinstance(self.adapt[s], LayerAdapter)}
        return {"layer_weights": weights, "streams": list(self.streams), "adapters": list(self.adapters),
                "fusion": self.fusion}
