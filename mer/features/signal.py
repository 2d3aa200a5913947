"""Signal-processing features: Kaldi-compatible fbank and MFCC, and a plain log-mel spectrogram.

All take one 16 kHz mono waveform in [-1, 1] and return (frames, dim) float32 at a 10 ms shift.
"""
from __future__ import annotations

import numpy as np
import torch

from mer.features import register_feature

SAMPLE_RATE = 16000
# Kaldi's feature code works on 16-bit sample values; our waves are scaled to [-1, 1].
INT16_SCALE = 32768.0


class FbankExtractor:
    kind = "audio"

    def __init__(self, num_mel_bins: int = 80, frame_length_ms: float = 25.0, frame_shift_ms: float = 10.0,
                 dither: float = 0.0):
        self.opts = dict(num_mel_bins=num_mel_bins, frame_length=frame_length_ms,
                         frame_shift=frame_shift_ms, dither=dither, sample_frequency=SAMPLE_RATE,
                         energy_floor=0.0)
        self.dim = num_mel_bins

    def info(self) -> dict:
        return {"dim": self.dim, "frame_shift_ms": self.opts["frame_shift"], **self.opts}

    def _check_length(self, w: np.ndarray) -> None:
        # torchaudio would fail with a bare assertion (none at all under `python -O`).
        window = int(SAMPLE_RATE * self.opts["frame_length"] / 1000)
        if len(w) < window:
            raise ValueError(f"audio of {len(w)} samples is shorter than one frame ({window} samples)")

    def __call__(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        from torchaudio.compliance import kaldi

        for w in waves:
            self._check_length(w)
        return [kaldi.fbank(torch.from_numpy(w).unsqueeze(0) * INT16_SCALE, **self.opts).numpy()
                for w in waves]


class MfccExtractor(FbankExtractor):
    def __init__(self, num_ceps: int = 13, num_mel_bins: int = 23, **kw):
        super().__init__(num_mel_bins=num_mel_bins, **kw)
        self.opts["num_ceps"] = num_ceps
        self.dim = num_ceps

    def __call__(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        from torchaudio.compliance import kaldi

        for w in waves:
            self._check_length(w)
        return [kaldi.mfcc(torch.from_numpy(w).unsqueeze(0) * INT16_SCALE, **self.opts).numpy()
                for w in waves]


class LogMelExtractor:
    """log(mel power + 1e-6), 25 ms Hann window, 10 ms shift (librosa/torchaudio convention)."""

    kind = "audio"

    def __init__(self, num_mel_bins: int = 80, n_fft: int = 400, hop_length: int = 160):
        import torchaudio

        self.dim = num_mel_bins
        self.hop_length = hop_length
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=n_fft, hop_length=hop_length, n_mels=num_mel_bins)

    def info(self) -> dict:
        return {"dim": self.dim, "frame_shift_ms": 1000 * self.hop_length / SAMPLE_RATE}

    def __call__(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            return [torch.log(self.mel(torch.from_numpy(w)) + 1e-6).T.contiguous().numpy() for w in waves]


register_feature("fbank", lambda num_mel_bins=80, **_: FbankExtractor(num_mel_bins=num_mel_bins),
                 description="Kaldi filterbank energies (torchaudio.compliance.kaldi), 25 ms / 10 ms")
register_feature("mfcc", lambda **_: MfccExtractor(), description="Kaldi MFCC, 13 cepstra from 23 mel bins, 25 ms / 10 ms")
register_feature("logmel", lambda num_mel_bins=80, **_: LogMelExtractor(num_mel_bins=num_mel_bins),
                 description="log mel power spectrogram, 25 ms Hann window, 10 ms shift (system B's input)")
