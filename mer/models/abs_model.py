"""The contract between a system and the rest of the toolkit (ESPnet's AbsESPnetModel is the pattern).

A system is a subclass of `AbsEmotionModel` registered under a name with `@register_model(name)`.
It declares which named inputs it reads (the keys of a config's `inputs:` block), whether padding
changes its outputs, and it owns its loss. The trainer, inference, scoring and plots only ever see
`ModelOutput`: one row per utterance of the batch, also when the batch holds whole dialogues.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from mer.models.layers import LayerMix
from mer.registry import new_registry, subclass_of


@dataclass
class ModelOutput:
    logits: torch.Tensor                    # (N, C), one row per utterance of the batch (flat)
    embedding: torch.Tensor | None = None   # (N, D) the vector the classifier sees (t-SNE), optional
    # Per-utterance named outputs a system wants saved in its decode dir, each (N, K); e.g. the
    # modality weights of an attention fusion. Written as `<name>.{ark,scp}`.
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


class AbsEmotionModel(nn.Module):
    """Base class of every system.

    Subclasses take `(num_classes, input_infos, **model_config)` where `input_infos` maps each input
    name of `input_names(model_config)` to what the data pipeline knows of it (`mer.inputs.InputInfo`).
    """

    # True when padding a batch changes a sample's output (no masks): such a model is validated and
    # decoded one sample at a time.
    padding_sensitive: bool = False
    # Input names when they do not depend on the config; override `input_names` otherwise.
    inputs: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def input_names(cls, conf: dict) -> tuple[str, ...]:
        """The named inputs this model reads, given its `model:` config block."""
        return cls.inputs

    def forward(self, batch: dict) -> ModelOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    # `model.label_smoothing` in a config, for any model (mer.models.build_model sets it): the share
    # of each target spread over the other classes by the default loss.
    label_smoothing: float = 0.0

    def loss(self, output: ModelOutput, labels: torch.Tensor) -> torch.Tensor:
        """Per-utterance loss (N,). Labels of -1 (context turns, padding) contribute zero.
        The trainer weights and normalises these over the global batch."""
        known = labels >= 0
        ce = nn.functional.cross_entropy(output.logits.float(), labels.clamp(min=0), reduction="none",
                                         label_smoothing=self.label_smoothing)
        return ce * known

    def encoder_parameter_names(self) -> list[str]:
        """Names of the parameters of pretrained encoders trained inside the model, which get
        `optim.encoder_lr` and `optim.encoder_freeze_steps`. Default: every parameter under a
        submodule called `encoder`."""
        return [n for n, p in self.named_parameters() if p.requires_grad and ".encoder." in f".{n}"]

    def describe(self) -> dict:
        """Model-level values worth saving with every decode dir (JSON-able), e.g. a system's own
        settings. Empty by default."""
        return {}

    def learned_layer_mixes(self) -> dict[str, list[float]]:
        """Stream name -> the softmax weights of every learned layer mix (`LayerMix`) in the model,
        whatever the system: an audio-only model that learns which Whisper layers to read has them
        as much as a fusion model does."""
        modules = dict(self.named_modules())
        out = {}
        for path, module in modules.items():
            if isinstance(module, LayerMix) and module.weights is not None:
                owner = modules.get(path.rpartition(".")[0])
                name = getattr(owner, "name", None) or path.rpartition(".")[0] or path
                out[name] = [round(float(w), 6) for w in torch.softmax(module.weights.detach().float(), 0)]
        return out

    def description(self) -> dict:
        """What a decode dir records of the model: `describe()`, with the learned layer mixes as
        `layer_weights` unless the system reports its own."""
        mixes = self.learned_layer_mixes()
        return {**({"layer_weights": mixes} if mixes else {}), **self.describe()}


# Every module of mer.models is imported on first use, so a new system is one new module there.
MODEL_CLASSES = new_registry("model", package="mer.models", check=subclass_of(AbsEmotionModel, "model"))


def register_model(name: str):
    """Class decorator: make a system available to configs as `model: {name: NAME}`."""
    return MODEL_CLASSES.register(name)
