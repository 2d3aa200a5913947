"""Frozen transformers encoders as feature extractors.

`HFSpeechEncoder`: any transformers speech encoder (HuBERT, wav2vec 2.0, WavLM, Whisper's encoder)
-> frame-level hidden states. `HFTextEncoder`: a text encoder (BERT, RoBERTa, MiniLM) -> token-level
hidden states of `text`. Models are named by hub id or local directory and loaded with
`from_pretrained`; they run in eval mode under inference_mode.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import torch

from mer.features.layers import parse_layers
from mer.utils.device import pick_device

log = logging.getLogger(__name__)

WHISPER_SAMPLES_PER_FRAME = 320  # 10 ms mel hop x conv stride 2


def _resolve(name: str) -> str:
    from mer.pretrained import resolve_model

    return str(resolve_model(name))


def _hidden_states(out) -> list[torch.Tensor]:
    """num_layers + 1 hidden states, the last one being the model's output. transformers 5 records
    the last layer's output before the encoder's final LayerNorm (wav2vec 2.0 / HuBERT / WavLM with
    do_stable_layer_norm: the large checkpoints); transformers 4 returned it after, as
    last_hidden_state is."""
    states = list(out.hidden_states)
    states[-1] = out.last_hidden_state
    return states


def _stack_layers(hidden_states, layers: list[int], index: int, length: int) -> np.ndarray:
    """(length, n_layers * dim) for batch element `index`."""
    parts = [hidden_states[i][index, :length] for i in layers]
    return torch.cat(parts, dim=-1).float().cpu().numpy()


class HFSpeechEncoder:
    kind = "audio"

    def __init__(self, model: str, layers: str = "last", device: str = "auto",
                 whisper_input_seconds: float = 30.0):
        from transformers import AutoConfig, AutoModel

        self.source = _resolve(model)
        self.device = pick_device(device)
        config = AutoConfig.from_pretrained(self.source)
        self.is_whisper = config.model_type == "whisper"
        model_obj = AutoModel.from_pretrained(self.source)
        self.model = (model_obj.get_encoder() if self.is_whisper else model_obj).eval().to(self.device)
        self.dim = config.d_model if self.is_whisper else config.hidden_size
        num_layers = config.encoder_layers if self.is_whisper else config.num_hidden_layers
        self.layers = parse_layers(layers, num_layers + 1)
        # Group-norm conv front ends (HuBERT/wav2vec2 base) give different outputs for padded
        # input even with an attention mask, so those models see one utterance at a time.
        self.pad_safe = self.is_whisper or getattr(config, "feat_extract_norm", "layer") != "group"
        self.whisper_input_seconds = whisper_input_seconds
        if self.is_whisper:
            from transformers import WhisperFeatureExtractor

            try:
                self.fe = WhisperFeatureExtractor.from_pretrained(self.source)
            except OSError:
                self.fe = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
            self._shorten_whisper(whisper_input_seconds)
        else:
            self.fe = None
            try:
                from transformers import AutoFeatureExtractor

                self.fe = AutoFeatureExtractor.from_pretrained(self.source)
            except (OSError, ValueError):
                pass  # a bare model dir: feed raw waveforms

    def _shorten_whisper(self, seconds: float) -> None:
        """Whisper pads every input to 30 s. A shorter window (fewer positions) is much faster but
        changes the features; 30 s (the default) reproduces the original model."""
        positions = int(round(seconds * 50))
        full = self.model.config.max_source_positions
        if positions >= full:
            self.n_mel_frames = 2 * full
            return
        self.model.embed_positions.weight.data = self.model.embed_positions.weight.data[:positions].clone()
        self.model.embed_positions.num_embeddings = positions
        self.model.config.max_source_positions = positions
        self.n_mel_frames = 2 * positions

    def info(self) -> dict:
        return {"model": self.source, "layers": self.layers, "dim": self.dim,
                "num_layers_stored": len(self.layers), "frame_shift_ms": 20.0,
                **({"whisper_input_seconds": self.whisper_input_seconds} if self.is_whisper else {})}

    @property
    def batchable(self) -> bool:
        return self.pad_safe

    @torch.inference_mode()
    def __call__(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        if self.is_whisper:
            return self._whisper(waves)
        return self._ssl(waves)

    def _whisper(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        max_samples = self.n_mel_frames * 160
        if any(len(w) > max_samples for w in waves):
            log.warning("audio longer than Whisper's %.0f s window is cut to it", max_samples / 16000)
        waves = [w[:max_samples] for w in waves]
        feats = self.fe(waves, sampling_rate=16000, return_tensors="pt", padding="max_length",
                        max_length=max_samples, truncation=True).input_features
        feats = feats[..., : self.n_mel_frames].to(self.device)
        out = self.model(feats, output_hidden_states=True)
        states = _hidden_states(out)
        result = []
        for i, w in enumerate(waves):
            n = min(math.ceil(len(w) / WHISPER_SAMPLES_PER_FRAME), out.last_hidden_state.shape[1])
            result.append(_stack_layers(states, self.layers, i, max(n, 1)))
        return result

    def _ssl(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        lengths = torch.tensor([len(w) for w in waves])
        if self.fe is not None:
            enc = self.fe(waves, sampling_rate=16000, return_tensors="pt", padding=True,
                          return_attention_mask=True)
            x, mask = enc.input_values, enc.get("attention_mask")
        else:
            x = torch.zeros(len(waves), int(lengths.max()))
            for i, w in enumerate(waves):
                x[i, : len(w)] = torch.from_numpy(w)
            mask = (torch.arange(x.shape[1])[None] < lengths[:, None]).long()
        if len(waves) == 1:
            mask = None
        out = self.model(x.to(self.device), attention_mask=None if mask is None else mask.to(self.device),
                         output_hidden_states=True)
        frames = self.model._get_feat_extract_output_lengths(lengths)
        states = _hidden_states(out)
        return [_stack_layers(states, self.layers, i, int(frames[i])) for i in range(len(waves))]


class HFTextEncoder:
    kind = "text"
    batchable = True

    def __init__(self, model: str, layers: str = "last", device: str = "auto", clean_text: bool = False,
                 max_tokens: int = 512):
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        self.source = _resolve(model)
        self.device = pick_device(device)
        config = AutoConfig.from_pretrained(self.source)
        self.tokenizer = AutoTokenizer.from_pretrained(self.source)
        self.model = AutoModel.from_pretrained(self.source).eval().to(self.device)
        self.dim = config.hidden_size
        self.layers = parse_layers(layers, config.num_hidden_layers + 1)
        self.clean_text = clean_text
        self.max_tokens = max_tokens

    def info(self) -> dict:
        return {"model": self.source, "layers": self.layers, "dim": self.dim,
                "num_layers_stored": len(self.layers), "clean_text": self.clean_text,
                "unit": "token"}

    @torch.inference_mode()
    def __call__(self, texts: list[str]) -> list[np.ndarray]:
        if self.clean_text:
            from mer.data.text import clean_transcript

            texts = [clean_transcript(t) for t in texts]
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                             return_tensors="pt").to(self.device)
        out = self.model(**enc, output_hidden_states=True)
        lengths = enc["attention_mask"].sum(dim=1)
        states = _hidden_states(out)
        return [_stack_layers(states, self.layers, i, int(lengths[i])) for i in range(len(texts))]
