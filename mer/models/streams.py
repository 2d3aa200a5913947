"""Input streams of a model: what one named input hands the fusion layers.

Built from the input's type (`mer.inputs.InputInfo`) and, for raw inputs, the model config's
`encoders.<input name>` block:
- dump: frozen encoder frames read from ark/scp, layers mixed if several were stored;
- text: a transformers text encoder run inside the model over the raw text (trained with it when
  `finetune: true`, else frozen);
- waveform: a transformers speech encoder (wav2vec 2.0, HuBERT, WavLM, Whisper's encoder) over the
  raw audio, its convolutional feature encoder frozen, a learned weighted sum over its layers.
Each returns (x, mask): (B, T, D) features and a (B, T) bool mask, True on real positions.
With `build_stream(..., all_layers=True)` a stream mixes nothing and returns every hidden state side
by side instead, (B, T, L * D) as a dump of all layers stores them, with `num_layers` = L and
`out_dim` = D: for models that weigh the layers themselves (layer adapters).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from mer.inputs import InputInfo
from mer.models.layers import LayerMix
from mer.models.pooling import lengths_to_mask

ENCODER_KEYS = {"model", "finetune", "clean_text", "max_tokens", "layer", "layers", "freeze_feature_encoder",
                "normalize_waveform", "config_overrides"}


class DumpedStream(nn.Module):
    def __init__(self, name: str, info: InputInfo, normalize_layers: bool = False, all_layers: bool = False):
        super().__init__()
        self.name = name
        self.out_dim = info.dim
        self.num_layers = info.num_layers if all_layers else 1
        self.mix = None if all_layers else LayerMix(info.num_layers, info.dim, normalize=normalize_layers)

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch[self.name]
        mask = lengths_to_mask(batch[f"{self.name}_lengths"].to(x.device), x.shape[1])
        return (x if self.mix is None else self.mix(x)), mask


def _source(model: str) -> str:
    from mer.pretrained import resolve_model

    return str(resolve_model(model))


def _set_trainable(module: nn.Module, trainable: bool) -> None:
    for p in module.parameters():
        p.requires_grad = trainable


class TextEncoderStream(nn.Module):
    """A transformers text encoder over `batch[name]` (strings); tokenises itself. `layer`: a hidden
    state index (-1: the last), or "all" for every hidden state side by side."""

    def __init__(self, name: str, model: str, finetune: bool = True, clean_text: bool = False,
                 max_tokens: int = 512, layer: int | str = -1):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.name = name
        source = _source(model)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.encoder = AutoModel.from_pretrained(source)
        self.finetune = finetune
        _set_trainable(self.encoder, finetune)
        self.out_dim = self.encoder.config.hidden_size
        self.num_layers = self.encoder.config.num_hidden_layers + 1 if layer == "all" else 1
        self.clean_text, self.max_tokens, self.layer = clean_text, max_tokens, layer

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        texts = batch[self.name]
        if self.clean_text:
            from mer.data.text import clean_transcript

            texts = [clean_transcript(t) for t in texts]
        device = next(self.encoder.parameters()).device
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                             return_tensors="pt").to(device)
        with torch.set_grad_enabled(self.finetune and torch.is_grad_enabled()):
            out = self.encoder(**enc, output_hidden_states=self.layer != -1)
        if self.layer == "all":
            x = torch.cat(list(out.hidden_states[:-1]) + [out.last_hidden_state], dim=-1)
        else:
            x = out.last_hidden_state if self.layer == -1 else out.hidden_states[self.layer]
        return x, enc["attention_mask"].bool()


def whisper_encoder_states(encoder, mel: torch.Tensor) -> list[torch.Tensor]:
    """Every hidden state of Whisper's encoder on mel frames of any even length (B, n_mels, 2N),
    not only its 30 s window: positional embeddings are cut to the N output positions. The last
    state has the final layer norm applied, as transformers' own `hidden_states` do."""
    x = nn.functional.gelu(encoder.conv1(mel))
    x = nn.functional.gelu(encoder.conv2(x)).permute(0, 2, 1)
    x = x + encoder.embed_positions.weight[: x.shape[1]]
    x = nn.functional.dropout(x, p=encoder.dropout, training=encoder.training)
    states = [x]
    for layer in encoder.layers:
        x = layer(x, None)
        states.append(x)
    states[-1] = encoder.layer_norm(x)
    return states


class SpeechEncoderStream(nn.Module):
    """A transformers speech encoder over raw waveforms `batch[name]` (B, S) with lengths.

    Whisper: log-mel frames of each utterance's own length, one utterance at a time (its encoder has
    no padding mask, so batching would let padding leak into the outputs). wav2vec 2.0 / HuBERT /
    WavLM: one padded batch, with an attention mask only for layer-norm front ends (a group-norm
    front end normalises over the whole input and is fine-tuned on zero-padded batches, as usual).
    """

    def __init__(self, name: str, model: str, finetune: bool = True, layers: str = "weighted",
                 freeze_feature_encoder: bool = True, normalize_waveform: bool | None = None,
                 config_overrides: dict | None = None):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        self.name = name
        source = _source(model)
        config = AutoConfig.from_pretrained(source, **(config_overrides or {}))
        self.is_whisper = config.model_type == "whisper"
        if self.is_whisper:
            from transformers import WhisperFeatureExtractor, WhisperModel

            self.encoder = WhisperModel.from_pretrained(source, config=config).get_encoder()
            self.mel = WhisperFeatureExtractor.from_pretrained(source)
            num_states, dim = config.encoder_layers + 1, config.d_model
            if freeze_feature_encoder:
                _set_trainable(self.encoder.conv1, False)
                _set_trainable(self.encoder.conv2, False)
        else:
            self.encoder = AutoModel.from_pretrained(source, config=config)
            num_states, dim = config.num_hidden_layers + 1, config.hidden_size
            self.use_mask = getattr(config, "feat_extract_norm", "layer") == "layer"
            if freeze_feature_encoder:
                _set_trainable(self.encoder.feature_extractor, False)
            if normalize_waveform is None:
                normalize_waveform = _wants_normalized_waveform(source)
        self.normalize_waveform = bool(normalize_waveform)
        self.finetune = finetune
        if not finetune:
            _set_trainable(self.encoder, False)
        if layers not in ("weighted", "last", "all"):
            raise ValueError(f"encoders.{name}.layers must be weighted or last (all: set by models that "
                             f"weigh the layers themselves), got '{layers}'")
        self.mix = (None if layers == "all" else
                    LayerMix(num_states if layers == "weighted" else 1, dim, normalize=layers == "weighted"))
        self.layers, self.out_dim = layers, dim
        self.num_layers = num_states if layers == "all" else 1

    def _combine(self, states: list[torch.Tensor]) -> torch.Tensor:
        if self.layers == "last":
            return states[-1]
        if self.layers == "all":
            return torch.cat(states, dim=-1)
        x = torch.stack(states, dim=2)  # (B, T, L, D)
        return self.mix(x.flatten(2))

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        wav, lengths = batch[self.name], batch[f"{self.name}_lengths"]
        with torch.set_grad_enabled(self.finetune and torch.is_grad_enabled()):
            if self.is_whisper:
                return self._whisper(wav, lengths)
            return self._ssl(wav, lengths)

    def _whisper(self, wav, lengths):
        outs = []
        device = wav.device
        for w, n in zip(wav, lengths.tolist()):
            feats = self.mel(w[:n].cpu().numpy(), sampling_rate=self.mel.sampling_rate, padding="longest",
                             return_tensors="pt").input_features
            frames = min(feats.shape[-1] + feats.shape[-1] % 2, 2 * self.encoder.config.max_source_positions)
            mel = nn.functional.pad(feats, (0, max(0, frames - feats.shape[-1])))[..., :frames]
            outs.append(self._combine(whisper_encoder_states(self.encoder, mel.to(device)))[0])
        x = nn.utils.rnn.pad_sequence(outs, batch_first=True)
        return x, lengths_to_mask(torch.tensor([o.shape[0] for o in outs], device=device), x.shape[1])

    def _ssl(self, wav, lengths):
        mask = lengths_to_mask(lengths.to(wav.device), wav.shape[1])
        if self.normalize_waveform:  # zero mean, unit variance over each utterance's real samples
            n = mask.sum(1, keepdim=True).clamp(min=1)
            mean = (wav * mask).sum(1, keepdim=True) / n
            var = (((wav - mean) * mask) ** 2).sum(1, keepdim=True) / n
            wav = (wav - mean) / torch.sqrt(var + 1e-7) * mask
        out = self.encoder(wav, attention_mask=mask.long() if self.use_mask else None,
                           output_hidden_states=self.layers != "last", **self._no_time_masks_if_short(wav))
        x = self._combine(list(out.hidden_states) if self.layers != "last" else [out.last_hidden_state])
        frames = self.encoder._get_feat_extract_output_lengths(lengths.to(wav.device))
        return x, lengths_to_mask(frames, x.shape[1])

    def _no_time_masks_if_short(self, wav) -> dict:
        """SpecAugment's time masks (fine-tuning: the checkpoint's mask_time_length frames, 10 = 0.2 s
        for the base models) do not fit a batch shorter than one mask, and transformers raises; such
        a batch gets no time mask (an all-False mask_time_indices), the others get theirs."""
        cfg = self.encoder.config
        if not (self.encoder.training and getattr(cfg, "apply_spec_augment", False)
                and getattr(cfg, "mask_time_prob", 0) > 0):
            return {}
        frames = int(self.encoder._get_feat_extract_output_lengths(torch.tensor(wav.shape[1])))
        if frames >= cfg.mask_time_length:
            return {}
        return {"mask_time_indices": torch.zeros(wav.shape[0], frames, dtype=torch.bool, device=wav.device)}


def _wants_normalized_waveform(source: str) -> bool:
    """The checkpoint's own feature-extractor setting (wav2vec 2.0 base: yes), default yes. A hub id
    is looked up where from_pretrained finds it (the cache), not only a local directory."""
    from transformers.utils import cached_file

    cfg = Path(source) / "preprocessor_config.json"
    if not cfg.is_file() and not Path(source).is_dir():
        found = cached_file(source, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False,
                            _raise_exceptions_for_connection_errors=False)
        cfg = Path(found) if found else cfg
    if cfg.is_file():
        return bool(json.loads(cfg.read_text()).get("do_normalize", True))
    return True


def build_stream(name: str, info: InputInfo, encoder_conf: dict | None = None, normalize_layers: bool = False,
                 all_layers: bool = False) -> nn.Module:
    """The stream for input `name`: its type decides, `encoder_conf` configures a raw-input encoder.
    `all_layers`: hand out every hidden state (the model weighs them), not a mix or one layer."""
    conf = dict(encoder_conf or {})
    unknown = set(conf) - ENCODER_KEYS
    if unknown:
        raise ValueError(f"config: model.encoders.{name}: unknown key(s) {sorted(unknown)}; "
                         f"allowed: {sorted(ENCODER_KEYS)}")
    if all_layers:
        chosen = sorted({"layer", "layers"} & set(conf))
        if chosen:
            raise ValueError(f"config: model.encoders.{name}: {chosen[0]} is set by the model, which reads "
                             f"every layer of this encoder; remove it")
        conf["layer" if info.type == "text" else "layers"] = "all"
    elif conf.get("layers") == "all" or conf.get("layer") == "all":
        raise ValueError(f"config: model.encoders.{name}: this model reads one layer or a mix, not 'all'")
    if info.type == "dump":
        return DumpedStream(name, info, normalize_layers, all_layers)
    if not conf.get("model"):
        raise ValueError(f"config: input '{name}' is raw {info.type}, so model.encoders.{name}.model must "
                         f"name the encoder that reads it (a hub id or a local dir)")
    if info.type == "text":
        return TextEncoderStream(name, conf["model"], finetune=conf.get("finetune", True),
                                 clean_text=conf.get("clean_text", False),
                                 max_tokens=conf.get("max_tokens", 512), layer=conf.get("layer", -1))
    return SpeechEncoderStream(name, conf["model"], finetune=conf.get("finetune", True),
                               layers=conf.get("layers", "weighted"),
                               freeze_feature_encoder=conf.get("freeze_feature_encoder", True),
                               normalize_waveform=conf.get("normalize_waveform"),
                               config_overrides=conf.get("config_overrides"))
