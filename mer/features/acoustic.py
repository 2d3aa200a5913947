"""Acoustic feature sets of system C's LSTM speech models (16 kHz mono waveforms in [-1, 1]).

- `mfcc39`: 13 Kaldi-compatible MFCCs (23 mel bins, 25 ms window, 10 ms shift) with their deltas
  and delta-deltas (Kaldi's regression over +-2 frames), (frames, 39). The paper averages them
  over the utterance; a model does that with `frames: mean`.
- `handcrafted8`: eight utterance-level values, (1, 8), named in `HANDCRAFTED_NAMES` (see
  `handcrafted_features` for how each is computed). Plain numpy/scipy, no librosa.
- `egemaps`: openSMILE's eGeMAPS v02 functionals (88 values per utterance), (1, 88);
  `egemaps-lld`: its 25 low-level descriptors every 10 ms, (frames, 25); `gemaps`: the minimal
  GeMAPS v01b functionals (62 values over its 18 low-level descriptors), (1, 62). Through the
  `opensmile` package (`OpenSmileExtractor`).

The paper's other two sets are in `mer.features.librosa_mfcc` and `mer.features.sahu8`; `mfcc39`
and `handcrafted8` here are our earlier stand-ins, kept for the recipes that dump them.
"""
from __future__ import annotations

import numpy as np

from mer.features import register_feature

SAMPLE_RATE = 16000
FRAME = 400            # 25 ms
HOP = 160              # 10 ms
PITCH_FRAME = 640      # 40 ms: two periods of the lowest pitch searched
F0_MIN, F0_MAX = 60.0, 500.0
VOICING = 0.5          # normalised autocorrelation a voiced frame reaches at its period
PAUSE_SHARE = 0.4      # a frame quieter than this share of the mean RMS is a pause (Sahu 2019)

HANDCRAFTED_NAMES = ("pitch_mean_hz", "pitch_std_hz", "harmonic_ratio", "energy_rms_mean", "energy_rms_std",
                     "pause_ratio", "spectral_centroid_mean_hz", "spectral_centroid_std_hz")


def _frames(w: np.ndarray, size: int, hop: int = HOP) -> np.ndarray:
    """(n_frames, size) frames, the last one zero-padded; at least one frame."""
    n = 1 + max(0, int(np.ceil((len(w) - size) / hop)))
    padded = np.pad(w, (0, max(0, (n - 1) * hop + size - len(w))))
    idx = np.arange(size)[None, :] + hop * np.arange(n)[:, None]
    return padded[idx]


def _check(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1 or len(w) < FRAME:
        raise ValueError(f"audio of {len(w)} samples is shorter than one frame ({FRAME} samples)")
    return w


def frame_rms(w: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(_frames(w, FRAME) ** 2, axis=1))


def frame_pitch(w: np.ndarray) -> np.ndarray:
    """F0 in Hz per 10 ms frame (40 ms window), 0 where unvoiced: the normalised autocorrelation
    (each lag divided by the energies of the two overlapping parts) peaks at the period; the
    smallest lag that is a local peak within 90% of the best in [1/F0_MAX, 1/F0_MIN] wins (no octave
    errors), refined by a parabola through its neighbours;
    a frame is voiced when that peak reaches VOICING and its RMS is not a pause."""
    frames = _frames(w, PITCH_FRAME)
    frames = frames - frames.mean(axis=1, keepdims=True)
    n = PITCH_FRAME
    spec = np.fft.rfft(frames, 2 * n, axis=1)
    acf = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :n]
    sq = np.cumsum(frames ** 2, axis=1)
    lag_lo, lag_hi = int(SAMPLE_RATE / F0_MAX), int(np.ceil(SAMPLE_RATE / F0_MIN))
    lags = np.arange(lag_lo, lag_hi + 1)
    head = sq[:, n - 1 - lags]                      # energy of x[0 : n - lag]
    tail = sq[:, -1:] - sq[:, lags - 1]             # energy of x[lag : n]
    nacf = acf[:, lags] / np.sqrt(head * tail + 1e-12)
    best = nacf.max(axis=1)
    peak = np.zeros_like(nacf, dtype=bool)
    peak[:, 1:-1] = (nacf[:, 1:-1] >= nacf[:, :-2]) & (nacf[:, 1:-1] >= nacf[:, 2:])
    candidates = peak & (nacf >= 0.9 * best[:, None])
    first = np.where(candidates.any(axis=1), np.argmax(candidates, axis=1), np.argmax(nacf, axis=1))
    i = np.clip(first, 1, len(lags) - 2)
    rows = np.arange(len(frames))
    a, b, c = nacf[rows, i - 1], nacf[rows, i], nacf[rows, i + 1]
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    lag = lags[i] + np.clip(shift, -1, 1)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    voiced = (best >= VOICING) & (rms >= PAUSE_SHARE * rms.mean())
    return np.where(voiced, SAMPLE_RATE / lag, 0.0)


def _magnitude(w: np.ndarray) -> np.ndarray:
    """(frames, 201) STFT magnitudes, 25 ms Hann window, 10 ms hop."""
    return np.abs(np.fft.rfft(_frames(w, FRAME) * np.hanning(FRAME), axis=1))


def harmonic_ratio(mag: np.ndarray, kernel: int = 17) -> float:
    """Share of spectral energy in the harmonic part of median-filtering harmonic/percussive
    separation (Fitzgerald 2010, as librosa's hpss): harmonic = median over time, percussive =
    median over frequency, soft (Wiener, power 2) masks."""
    from scipy.ndimage import median_filter

    power = mag ** 2
    harm = median_filter(mag, size=(kernel, 1), mode="reflect")
    perc = median_filter(mag, size=(1, kernel), mode="reflect")
    mask = harm ** 2 / (harm ** 2 + perc ** 2 + 1e-12)
    total = power.sum()
    return float((power * mask).sum() / total) if total > 0 else 0.0


def spectral_centroid(mag: np.ndarray) -> np.ndarray:
    freqs = np.fft.rfftfreq(FRAME, 1.0 / SAMPLE_RATE)
    weight = mag.sum(axis=1)
    return np.where(weight > 0, (mag * freqs).sum(axis=1) / np.maximum(weight, 1e-12), 0.0)


def handcrafted_features(w: np.ndarray) -> np.ndarray:
    """The eight values of HANDCRAFTED_NAMES, in that order:
    pitch mean / std (Hz) over voiced frames of `frame_pitch` (0 when nothing is voiced);
    harmonic ratio (`harmonic_ratio`); mean / std of the frame RMS (25 ms, 10 ms hop; linear
    amplitude, full scale = 1); pause ratio: share of frames whose RMS is below PAUSE_SHARE of the
    mean RMS; mean / std of the spectral centroid (Hz, magnitude-weighted mean frequency of a
    frame) over the frames that are not pauses."""
    w = _check(w)
    f0 = frame_pitch(w)
    voiced = f0[f0 > 0]
    rms = frame_rms(w)
    mag = _magnitude(w)
    sounding = rms >= PAUSE_SHARE * rms.mean()
    centroid = spectral_centroid(mag[sounding] if sounding.any() else mag)
    return np.array([voiced.mean() if voiced.size else 0.0, voiced.std() if voiced.size else 0.0,
                     harmonic_ratio(mag), rms.mean(), rms.std(), float(np.mean(rms < PAUSE_SHARE * rms.mean())),
                     centroid.mean(), centroid.std()], dtype=np.float64)


class HandcraftedExtractor:
    kind = "audio"
    dim = len(HANDCRAFTED_NAMES)

    def info(self) -> dict:
        return {"dim": self.dim, "unit": "utterance", "feature_names": list(HANDCRAFTED_NAMES),
                "frame_shift_ms": 1000 * HOP / SAMPLE_RATE}

    def __call__(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        return [handcrafted_features(w)[None, :].astype(np.float32) for w in waves]


class Mfcc39Extractor:
    kind = "audio"
    dim = 39

    def __init__(self):
        from mer.features.signal import MfccExtractor

        self.mfcc = MfccExtractor(num_ceps=13)

    def info(self) -> dict:
        return {**self.mfcc.info(), "dim": self.dim, "deltas": "kaldi regression, window 2 (delta, delta-delta)",
                "feature_names": [f"{kind}{i}" for kind in ("c", "d", "dd") for i in range(13)]}

    def __call__(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        import torch
        from torchaudio.functional import compute_deltas

        out = []
        for c in self.mfcc(waves):
            x = torch.from_numpy(c).T  # (13, frames)
            d = compute_deltas(x, win_length=5)
            dd = compute_deltas(d, win_length=5)
            out.append(torch.cat([x, d, dd]).T.contiguous().numpy())
        return out


class OpenSmileExtractor:
    """An openSMILE feature set (`opensmile.FeatureSet` member name, e.g. eGeMAPSv02, GeMAPSv01b):
    functionals (one row per utterance) or low-level descriptors (every 10 ms)."""

    kind = "audio"

    def __init__(self, feature_set: str = "eGeMAPSv02", level: str = "functionals"):
        import opensmile

        if level not in ("functionals", "lld"):
            raise ValueError(f"openSMILE level must be functionals or lld, got '{level}'")
        if not hasattr(opensmile.FeatureSet, feature_set):
            raise ValueError(f"openSMILE {opensmile.__version__} has no feature set '{feature_set}'")
        self.feature_set, self.level = feature_set, level
        self.smile = opensmile.Smile(
            feature_set=getattr(opensmile.FeatureSet, feature_set),
            feature_level=(opensmile.FeatureLevel.Functionals if level == "functionals"
                           else opensmile.FeatureLevel.LowLevelDescriptors))
        self.names = list(self.smile.feature_names)
        self.dim = len(self.names)

    def info(self) -> dict:
        import opensmile

        return {"dim": self.dim, "unit": "utterance" if self.level == "functionals" else "frame",
                "feature_set": self.feature_set, "level": self.level, "opensmile": opensmile.__version__,
                "feature_names": self.names, **({"frame_shift_ms": 10.0} if self.level == "lld" else {})}

    def __call__(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        return [self.smile.process_signal(_check(w).astype(np.float32), SAMPLE_RATE).to_numpy(np.float32)
                for w in waves]


register_feature("mfcc39", lambda **_: Mfcc39Extractor(),
                 description="13 Kaldi MFCCs + deltas + delta-deltas per 10 ms (a stand-in for system C's 39 MFCCs)")
register_feature("handcrafted8", lambda **_: HandcraftedExtractor(),
                 description="our eight: pitch, harmonic ratio, RMS, pause, spectral centroid statistics")
register_feature("egemaps", lambda **_: OpenSmileExtractor("eGeMAPSv02"),
                 description="openSMILE eGeMAPS v02 functionals, 88 per utterance")
register_feature("egemaps-lld", lambda **_: OpenSmileExtractor("eGeMAPSv02", "lld"),
                 description="openSMILE eGeMAPS v02 low-level descriptors, 25 every 10 ms")
register_feature("gemaps", lambda **_: OpenSmileExtractor("GeMAPSv01b"),
                 description="openSMILE GeMAPS v01b functionals, 62 per utterance (system C's minimal set)")
