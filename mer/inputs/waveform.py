"""`type: waveform`: raw audio from the data dir's wav.scp (and segments), for encoders trained in the model."""
from __future__ import annotations

from pathlib import Path

import torch

from mer.data.datadir import DataDir
from mer.inputs.base import AbsInput, InputInfo, register_input_type


@register_input_type("waveform")
class WaveformInput(AbsInput):
    """Raw audio read through the one audio loader (`mer.data.audio`), for encoders trained in the model."""

    description = "raw audio from the data dir's wav.scp and segments (keys: sample_rate, max_seconds)"
    spec_keys = frozenset({"sample_rate", "max_seconds"})

    def __init__(self, name: str, sample_rate: int = 16000, max_seconds: float | None = None):
        self.name, self.sample_rate, self.max_seconds = name, sample_rate, max_seconds
        self.info = InputInfo("waveform", sample_rate=sample_rate)
        self._seconds: dict[str, float] = {}

    @classmethod
    def open(cls, name: str, spec: dict, dumpdir: Path, preload_max_mb: float):
        return cls(name, int(spec.get("sample_rate") or 16000), spec.get("max_seconds"))

    def describe(self) -> dict:
        return {"type": "waveform", "sample_rate": self.sample_rate, "max_seconds": self.max_seconds}

    def missing(self, data: DataDir, utts: list[str]) -> list[str]:
        def has_audio(u):
            return (u in data.segments and data.segments[u].recording in data.wav_scp) or u in data.wav_scp
        return [u for u in utts if not has_audio(u)]

    def remedy(self, data_dir: str) -> str:
        return f"check {data_dir}/wav.scp (and segments)"

    def _duration(self, data: DataDir, utt: str) -> float:
        """Seconds, from utt2dur or segments where the data dir has them, else from the file header."""
        if utt not in self._seconds:
            dur = data.extra.get("utt2dur", {}).get(utt)
            if dur is not None:
                self._seconds[utt] = float(dur)
            elif utt in data.segments:
                seg = data.segments[utt]
                self._seconds[utt] = seg.end - max(seg.start, 0.0)
            else:
                self._seconds[utt] = self._header_seconds(data, utt)
        return self._seconds[utt]

    def _header_seconds(self, data: DataDir, utt: str) -> float:
        import soundfile as sf

        from mer.data.audio import AudioError, is_pipe

        spec = data.wav_scp[utt].strip()
        if not is_pipe(spec):
            try:
                return sf.info(spec).duration
            except (sf.LibsndfileError, RuntimeError, OSError) as e:
                raise AudioError(utt, spec, f"cannot read the audio header ({e})") from None
        return len(self.load(data, utt)) / self.sample_rate  # a pipe: decode once to know

    def length(self, data: DataDir, utt: str) -> int:
        seconds = self._duration(data, utt)
        if self.max_seconds:
            seconds = min(seconds, self.max_seconds)
        return max(1, int(seconds * self.sample_rate))

    def load(self, data: DataDir, utt: str) -> torch.Tensor:
        from mer.data.audio import load_utterance

        wave = load_utterance(data, utt, target_sr=self.sample_rate)
        if self.max_seconds:
            wave = wave[: int(self.max_seconds * self.sample_rate)]  # the start: deterministic
        self._seconds.setdefault(utt, len(wave) / self.sample_rate)
        return torch.from_numpy(wave)
