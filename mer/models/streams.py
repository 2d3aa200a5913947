"""Input streams of a model: what one modality hands the fusion layers.

A stream is either a dumped frozen encoder (features read from ark/scp, layers mixed if several
were stored) or, for text, a transformers encoder fine-tuned inside training over the raw text.
Each returns (x, mask): (B, T, D) features and a (B, T) bool mask, True on real positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mer.models.layers import LayerMix
from mer.models.pooling import lengths_to_mask


@dataclass
class StreamInfo:
    """What a dump holds, from its feats_info.json."""

    dim: int
    num_layers: int = 1

    @classmethod
    def from_feats_info(cls, info: dict) -> "StreamInfo":
        return cls(dim=int(info["dim"]), num_layers=int(info.get("num_layers_stored", 1)))


class DumpedStream(nn.Module):
    def __init__(self, name: str, info: StreamInfo, normalize_layers: bool = False):
        super().__init__()
        self.name = name
        self.out_dim = info.dim
        self.mix = LayerMix(info.num_layers, info.dim, normalize=normalize_layers)

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch[self.name]
        mask = lengths_to_mask(batch[f"{self.name}_lengths"].to(x.device), x.shape[1])
        return self.mix(x), mask


class FinetunedTextStream(nn.Module):
    """A text encoder trained with the model; tokenises `batch['text_raw']` itself."""

    def __init__(self, model: str, clean_text: bool = False, max_tokens: int = 512, layer: int = -1):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        from mer.pretrained import resolve_model

        source = str(resolve_model(model))
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.encoder = AutoModel.from_pretrained(source)
        self.out_dim = self.encoder.config.hidden_size
        self.clean_text, self.max_tokens, self.layer = clean_text, max_tokens, layer

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        texts = batch["text_raw"]
        if self.clean_text:
            from mer.data.text import clean_transcript

            texts = [clean_transcript(t) for t in texts]
        device = next(self.encoder.parameters()).device
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                             return_tensors="pt").to(device)
        out = self.encoder(**enc, output_hidden_states=self.layer != -1)
        x = out.last_hidden_state if self.layer == -1 else out.hidden_states[self.layer]
        return x, enc["attention_mask"].bool()


def build_stream(name: str, conf: dict | None, infos: dict[str, StreamInfo],
                 normalize_layers: bool = False) -> nn.Module:
    """`conf` is the model config's `text_encoder` block for a fine-tuned text stream, else None.
    `normalize_layers`: layer-normalise each dumped layer before mixing (LayerMix)."""
    if name == "text" and conf and conf.get("finetune"):
        return FinetunedTextStream(conf["model"], clean_text=conf.get("clean_text", False),
                                   max_tokens=conf.get("max_tokens", 512), layer=conf.get("layer", -1))
    if name not in infos:
        raise ValueError(f"the model needs a '{name}' feature dump, but none was given "
                         f"(have: {', '.join(infos) or 'none'})")
    return DumpedStream(name, infos[name], normalize_layers)
