"""Model registry: a system is a module plus a config block `model: {name: ..., ...}`.

To add a system, write a module whose class takes (num_classes, stream_infos, **config) and whose
forward(batch) returns mer.models.memocmt.ModelOutput, and register it in MODELS.
"""
from __future__ import annotations

from torch import nn


def _memocmt(**kw):
    from mer.models.memocmt import MemoCMT

    return MemoCMT(**kw)


def _audio_only(**kw):
    from mer.models.memocmt import Unimodal

    return Unimodal("audio", **kw)


def _text_only(**kw):
    from mer.models.memocmt import Unimodal

    return Unimodal("text", **kw)


MODELS = {"memocmt": _memocmt, "audio_only": _audio_only, "text_only": _text_only}


def build_model(model_conf: dict, num_classes: int, stream_infos: dict) -> nn.Module:
    conf = dict(model_conf)
    name = conf.pop("name", None)
    if name not in MODELS:
        raise ValueError(f"model.name must be one of {', '.join(MODELS)}, got '{name}'")
    return MODELS[name](num_classes=num_classes, stream_infos=stream_infos, **conf)


def finetunes_text(model_conf: dict) -> bool:
    """True when the model trains its own text encoder over raw text (no text dump)."""
    return bool((model_conf.get("text_encoder") or {}).get("finetune"))


def model_streams(model_conf: dict) -> tuple[str, ...]:
    """Which feature streams a model config reads ('audio', 'text')."""
    name = model_conf.get("name")
    return {"memocmt": ("audio", "text"), "audio_only": ("audio",), "text_only": ("text",)}[name]
