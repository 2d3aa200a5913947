"""Whisper decoding through transformers: waveforms in, hypotheses out.

The model directory (or hub id, or short name such as `whisper-tiny.en`) must hold a
`WhisperForConditionalGeneration` with its feature extractor and tokenizer (`WhisperProcessor`).
Decoding follows the model's generation_config (its suppressed tokens, its max_length), greedy
unless `beam_size` > 1. Audio up to Whisper's 30 s window is decoded in one pass; a batch holding
longer audio uses transformers' sequential long-form decoding (timestamps, window by window).
"""
from __future__ import annotations


import numpy as np
import torch

from mer.asr.normalize import is_english
from mer.data.audio import TARGET_SR
from mer.utils.device import pick_device



class WhisperTranscriber:
    """Loads the model once; `__call__(waves)` decodes a batch of 16 kHz mono float waveforms."""

    def __init__(self, model: str, beam_size: int = 1, language: str | None = None, device: str = "auto"):
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        from mer.pretrained import resolve_model

        if beam_size < 1:
            raise ValueError(f"beam size must be >= 1, got {beam_size}")
        self.source = resolve_model(model)
        self.device = pick_device(device)
        self.processor = WhisperProcessor.from_pretrained(self.source)
        self.model = WhisperForConditionalGeneration.from_pretrained(self.source).eval().to(self.device)
        self.window_samples = self.processor.feature_extractor.n_samples
        self.generate_kwargs: dict = {"num_beams": beam_size}
        multilingual = getattr(self.model.generation_config, "is_multilingual", None)
        if language and multilingual:
            self.generate_kwargs.update(language=language, task="transcribe")
        elif language and not is_english(language):
            # transformers refuses a language for English-only models; say which model and why.
            raise ValueError(f"{self.source} is an English-only model; it cannot transcribe language '{language}'")

    @torch.inference_mode()
    def __call__(self, waves: list[np.ndarray]) -> list[str]:
        kwargs = dict(self.generate_kwargs)
        if any(len(w) > self.window_samples for w in waves):
            # Long-form: unpadded features + mask; generate walks the windows with timestamps.
            enc = self.processor(waves, sampling_rate=TARGET_SR, return_tensors="pt", truncation=False,
                                 padding="longest", return_attention_mask=True)
            kwargs.update(attention_mask=enc.attention_mask.to(self.device), return_timestamps=True)
        else:
            enc = self.processor(waves, sampling_rate=TARGET_SR, return_tensors="pt")
        ids = self.model.generate(enc.input_features.to(self.device), **kwargs)
        return [" ".join(t.split()) for t in self.processor.batch_decode(ids, skip_special_tokens=True)]

    def info(self) -> dict:
        return {"model_dir": str(self.source), "beam_size": self.generate_kwargs["num_beams"],
                "language": self.generate_kwargs.get("language")}
