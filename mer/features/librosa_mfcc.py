"""39 MFCCs as `librosa.feature.mfcc(y=y, sr=16000, n_mfcc=39)` computes them, in torch (system C's
MFCC set; librosa is not needed at run time).

librosa's defaults (0.11), each reproduced here:
- STFT: n_fft 2048 (128 ms at 16 kHz), hop 512 (32 ms), periodic Hann window of 2048, centred frames
  (the signal zero-padded by 1024 samples on each side: librosa's pad_mode "constant"), power 2;
- mel filter bank: 128 bands over 0-8 kHz, Slaney's mel scale (linear below 1 kHz, logarithmic
  above) and Slaney's area normalisation (each triangle scaled by 2 / its width in Hz);
- `power_to_db`: 10 log10(max(S, 1e-10)) with ref 1.0, then floored at (its maximum over the
  utterance - 80 dB) (top_db 80);
- DCT-II with orthonormal scaling over the mel axis, the first 39 coefficients kept, no liftering.

Returns (frames, 39) float32, one frame per 32 ms (1 + len // 512 frames). The paper averages
them over the utterance: a model does that with `frames: mean`. Computed in float64 (librosa
works in float32; `tests/unit/features/test_sysc_paper_features.py` measures the difference when librosa is installed).
"""
from __future__ import annotations

import numpy as np
import torch

from mer.features import register_feature

SAMPLE_RATE = 16000
N_MFCC = 39
N_FFT = 2048
HOP = 512
N_MELS = 128
AMIN = 1e-10
TOP_DB = 80.0


def dct2_ortho(n_out: int, n_in: int) -> np.ndarray:
    """(n_in, n_out) orthonormal DCT-II matrix in float64 (scipy.fft.dct(type=2, norm="ortho")):
    sqrt(2 / n_in) cos(pi k (n + 1/2) / n_in), column k = 0 scaled by 1 / sqrt(2)."""
    n, k = np.arange(n_in)[:, None], np.arange(n_out)[None, :]
    basis = np.sqrt(2.0 / n_in) * np.cos(np.pi * k * (n + 0.5) / n_in)
    basis[:, 0] /= np.sqrt(2.0)
    return basis


class LibrosaMfccExtractor:
    kind = "audio"
    dim = N_MFCC

    def __init__(self):
        from torchaudio.functional import melscale_fbanks

        self.window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float64)
        # (freqs, mels): Slaney's scale and area normalisation, as librosa.filters.mel's defaults
        self.mel = melscale_fbanks(N_FFT // 2 + 1, 0.0, SAMPLE_RATE / 2, N_MELS, SAMPLE_RATE,
                                   norm="slaney", mel_scale="slaney").to(torch.float64)
        self.dct = torch.from_numpy(dct2_ortho(N_MFCC, N_MELS))              # (mels, n_mfcc)

    def info(self) -> dict:
        return {"dim": self.dim, "unit": "frame", "frame_shift_ms": 1000 * HOP / SAMPLE_RATE,
                "definition": "librosa.feature.mfcc(y, sr=16000, n_mfcc=39) with librosa 0.11's defaults",
                "n_fft": N_FFT, "hop_length": HOP, "n_mels": N_MELS, "top_db": TOP_DB,
                "feature_names": [f"mfcc{i}" for i in range(N_MFCC)]}

    def mfcc(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w)
        if w.ndim != 1 or len(w) == 0:
            raise ValueError(f"expected a non-empty mono waveform, got shape {w.shape}")
        x = torch.from_numpy(w.astype(np.float64))
        spec = torch.stft(x, N_FFT, HOP, window=self.window, center=True, pad_mode="constant",
                          return_complex=True).abs() ** 2                 # (freqs, frames)
        db = 10.0 * torch.log10(torch.clamp(self.mel.T @ spec, min=AMIN))  # (mels, frames)
        db = torch.maximum(db, db.max() - TOP_DB)
        return (self.dct.T @ db).T.contiguous().numpy().astype(np.float32)

    def __call__(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        return [self.mfcc(w) for w in waves]


register_feature("librosa-mfcc39", lambda **_: LibrosaMfccExtractor(),
                 description="39 MFCCs as librosa.feature.mfcc(n_mfcc=39) computes them, in torch (system C)")
