"""Frozen transformers encoders as feature extractors.

`HFSpeechEncoder`: any transformers speech encoder (HuBERT, wav2vec 2.0, WavLM, Whisper's encoder)
-> frame-level hidden states. `HFTextEncoder`: a text encoder (BERT, RoBERTa, MiniLM) -> token-level
hidden states of `text`. Models are named by hub id or local directory and loaded with
`from_pretrained`; they run in eval mode under inference_mode.

Batches: text encoders and speech encoders take padded batches with attention masks. A group-norm
speech encoder (wav2vec 2.0 / HuBERT / WavLM base) runs its convolutional front end on each
utterance alone, unpadded (its first layer's group norm normalises over time, so padding would
change it), then its transformer layers on the zero-padded batch of front-end outputs with the
attention mask: the same features as one utterance at a time. Whisper's encoder sees either a fixed
window (30 s: the model's own, every utterance padded to it) or, with
`whisper_input_seconds="utterance"`, each utterance's own length; it has no attention mask, so then
only utterances of equal length share a forward pass.

Long audio: each speech encoder declares its `audio_window` (`mer.features.windows`): Whisper its
input window, the others SSL_WINDOW_SECONDS. Audio longer than that is encoded window by window and
the frames joined, by `mer.features.windows.encode_in_windows` (dumps and recognition alike).
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch

from mer.features import WHISPER_UTTERANCE, needs_model, parse_whisper_window, register_feature
from mer.features.layers import parse_layers
from mer.features.windows import Window
from mer.utils.device import pick_device


WHISPER_SAMPLES_PER_FRAME = 320  # 10 ms mel hop x conv stride 2
# Whisper's receptive field: a 400-sample mel frame, then two kernel-3 convolutions (5 mel hops).
WHISPER_RECEPTIVE_FIELD = 400 + 4 * 160
# wav2vec 2.0 / HuBERT / WavLM see at most this much audio at once: shorter utterances are encoded
# whole, longer recordings in windows of it, so memory stays flat with length. Changing it changes
# the features of longer utterances (`window_seconds` in feats_info.json records it).
SSL_WINDOW_SECONDS = 60.0


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


def conv_front_end_geometry(config) -> tuple[int, int]:
    """(receptive field, stride) in samples of a wav2vec 2.0-style convolutional front end:
    output frame j sees samples [j * stride, j * stride + receptive field)."""
    field, stride = 1, 1
    for kernel, step in zip(config.conv_kernel, config.conv_stride):
        field += (kernel - 1) * stride
        stride *= step
    return field, stride


class PerUtteranceFrontEnd(torch.nn.Module):
    """A convolutional front end run on each utterance of a padded batch alone, on its real samples,
    its outputs zero-padded to the batch's frame count. The encoder then zeroes those padded frames
    and masks them out of attention, so each utterance's features are those it gets alone."""

    def __init__(self, conv: torch.nn.Module, lengths: list[int]):
        super().__init__()
        self.conv, self.lengths = conv, lengths

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.conv(x[i:i + 1, :n]) for i, n in enumerate(self.lengths)]
        frames = max(o.shape[-1] for o in outs)
        padded = outs[0].new_zeros(len(outs), outs[0].shape[1], frames)
        for i, o in enumerate(outs):
            padded[i, :, :o.shape[-1]] = o[0]
        return padded


def _stack_layers(hidden_states, layers: list[int], index: int, length: int) -> np.ndarray:
    """(length, n_layers * dim) for batch element `index`."""
    parts = [hidden_states[i][index, :length] for i in layers]
    return torch.cat(parts, dim=-1).float().cpu().numpy()


class HFSpeechEncoder:
    kind = "audio"

    def __init__(self, model: str, layers: str = "last", device: str = "auto",
                 whisper_input_seconds: float | str = 30.0):
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
        # Group-norm conv front ends (HuBERT/wav2vec2/WavLM base) give different outputs for padded
        # input even with an attention mask: theirs runs per utterance (PerUtteranceFrontEnd).
        self.group_norm = not self.is_whisper and getattr(config, "feat_extract_norm", "layer") == "group"
        if self.is_whisper:
            from transformers import WhisperFeatureExtractor

            try:
                self.fe = WhisperFeatureExtractor.from_pretrained(self.source)
            except OSError:
                self.fe = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
            self.whisper_input_seconds = parse_whisper_window(whisper_input_seconds)
            self.full_positions = config.max_source_positions
            # A fixed window of P output positions (2P mel frames), or None: each utterance's own.
            self.positions = (None if self.whisper_input_seconds == WHISPER_UTTERANCE else
                              min(int(round(self.whisper_input_seconds * 50)), self.full_positions))
            # Longer audio: consecutive windows of the input window (30 s in `utterance` mode), each
            # encoded as an utterance of its own; frames tile (320 samples each), no overlap needed.
            self.audio_window = Window(step=(self.positions or self.full_positions) * WHISPER_SAMPLES_PER_FRAME,
                                       overlap=0, min_samples=1, receptive_field=WHISPER_RECEPTIVE_FIELD)
        else:
            field, stride = conv_front_end_geometry(config)
            # Windows overlap by field - stride samples, so their frames are exactly the frames of
            # the whole recording (same count, same samples under each), each window seeing only
            # its own context.
            self.audio_window = Window(step=int(SSL_WINDOW_SECONDS * 16000) // stride * stride,
                                       overlap=field - stride, min_samples=field, receptive_field=field)
            self.fe = None
            try:
                from transformers import AutoFeatureExtractor

                self.fe = AutoFeatureExtractor.from_pretrained(self.source)
            except (OSError, ValueError):
                pass  # a bare model dir: feed raw waveforms

    @contextlib.contextmanager
    def _whisper_positions(self, n: int):
        """Let the encoder take 2n mel frames: it insists on exactly 2 * config.max_source_positions
        frames and adds all of embed_positions, so both are cut to n (sliced, not copied) for the call.
        Less than the full window is faster but changes the features: the model was trained on 30 s."""
        enc = self.model
        full_emb, full_n = enc.embed_positions, enc.config.max_source_positions
        if n == full_n:
            yield
            return
        enc.embed_positions = torch.nn.Embedding.from_pretrained(full_emb.weight[:n], freeze=True)
        enc.config.max_source_positions = n
        try:
            yield
        finally:
            enc.embed_positions, enc.config.max_source_positions = full_emb, full_n

    def info(self) -> dict:
        return {"model": self.source, "layers": self.layers, "dim": self.dim,
                "num_layers_stored": len(self.layers), "frame_shift_ms": 20.0,
                "window_seconds": self.audio_window.step / 16000,
                **({"whisper_input_seconds": self.whisper_input_seconds} if self.is_whisper else {})}

    batchable = True

    @contextlib.contextmanager
    def _front_end_per_utterance(self, lengths: list[int] | None):
        """For the call, the model's convolutional front end runs per utterance (None: as it is)."""
        if lengths is None:
            yield
            return
        conv = self.model.feature_extractor
        self.model.feature_extractor = PerUtteranceFrontEnd(conv, lengths)
        try:
            yield
        finally:
            self.model.feature_extractor = conv

    @torch.inference_mode()
    def __call__(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        if self.is_whisper:
            return self._whisper(waves)
        return self._ssl(waves)

    def _whisper(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        if any(len(w) > self.audio_window.step for w in waves):  # encode_in_windows splits long audio first
            raise ValueError(f"audio of {max(map(len, waves)) / 16000:.1f} s is longer than Whisper's "
                             f"{self.audio_window.step / 16000:g} s window: split it with mer.features.windows")
        # Output frames per utterance: 20 ms each, the last one partly padding.
        frames = [max(1, math.ceil(len(w) / WHISPER_SAMPLES_PER_FRAME)) for w in waves]
        if self.positions is not None:  # every utterance padded to one window: one batch, exact
            states = self._whisper_encode(waves, self.positions)
            return [_stack_layers(states, self.layers, i, n) for i, n in enumerate(frames)]
        # The utterance's own length. Whisper's encoder has no attention mask, so padding one
        # utterance to another's length would change its features: only utterances with the same
        # number of frames share a forward pass.
        result: list[np.ndarray | None] = [None] * len(waves)
        for n in sorted(set(frames)):
            group = [i for i, f in enumerate(frames) if f == n]
            states = self._whisper_encode([waves[i] for i in group], n)
            for j, i in enumerate(group):
                result[i] = _stack_layers(states, self.layers, j, n)
        return result

    def _whisper_encode(self, waves: list[np.ndarray], positions: int) -> list[torch.Tensor]:
        """Hidden states of the encoder over `positions` output frames (waves zero-padded to them)."""
        samples = positions * WHISPER_SAMPLES_PER_FRAME  # -> exactly 2 * positions mel frames
        feats = self.fe(waves, sampling_rate=16000, return_tensors="pt", padding="max_length",
                        max_length=samples, truncation=True).input_features
        with self._whisper_positions(positions):
            out = self.model(feats.to(self.device), output_hidden_states=True)
        return _hidden_states(out)

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
        with self._front_end_per_utterance([len(w) for w in waves] if mask is not None and self.group_norm
                                           else None):
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


register_feature(
    "hf", lambda model=None, layers="last", device="auto", whisper_input_seconds=30.0, **_: HFSpeechEncoder(
        needs_model("hf", model), layers=layers, device=device, whisper_input_seconds=whisper_input_seconds),
    description="hidden states of a transformers speech encoder (wav2vec 2.0, HuBERT, WavLM, Whisper's encoder)")
register_feature(
    "hf-text", lambda model=None, layers="last", device="auto", clean_text=False, **_: HFTextEncoder(
        needs_model("hf-text", model), layers=layers, device=device, clean_text=clean_text),
    description="hidden states of a transformers text encoder (BERT, RoBERTa, MiniLM) over the transcripts")
