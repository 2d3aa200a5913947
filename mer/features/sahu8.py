"""The eight hand-crafted utterance-level values of Sahu (2019, "Multimodal speech emotion
recognition and ambiguity resolution"), which system C feeds its LSTM models. Plain numpy/scipy
(no librosa at run time); 16 kHz mono waveforms in [-1, 1]; (1, 8) per utterance, in this order:

1. `signal_abs_mean`: mean of |x| over the utterance. The cited work calls it the signal mean; its
   code averages the absolute amplitude (the plain mean is only the DC offset).
2. `signal_std`: standard deviation of x.
3. `rms_mean`, 4. `rms_std`: mean and standard deviation of the frame RMS, sqrt(mean(x^2)) per
   frame, with librosa.feature.rms's defaults (the cited work's tool): 2048-sample frames (128 ms),
   512-sample hop (32 ms), centred frames (1024 zeros padded on each side), 1 + len // 512 frames.
   (The cited code adds 1e-4 to every sample first; we do not: a DC shift, not speech.)
5. `silence_ratio`: share of those RMS frames whose RMS is <= 0.4 x the utterance's mean RMS
   (the cited work's threshold).
6. `harmonic_ratio`: share of the harmonic part in the spectral energy, |H|^2 / (|H|^2 + |P|^2)
   summed over the spectrogram, where H and P are librosa.effects.hpss's harmonic and percussive
   parts with its defaults: STFT magnitude (n_fft 2048, hop 512, periodic Hann, centred,
   zero-padded), median filters of 31 bins along time (harmonic) and along frequency
   (percussive), soft masks of power 2, margin 1. The cited work leaves the harmonic value's
   definition open ("harmonics"); its code takes the mean of the harmonic waveform times 1000,
   which is that waveform's DC offset, so we take the ratio the name promises.
7. `pitch_max_hz`, 8. `pitch_std_hz`: maximum and standard deviation (Hz) of a centre-clipped
   autocorrelation pitch track over its voiced frames (0 and 0 when no frame is voiced).
   Centre clipping (Sondhi 1968), at the cited work's level CL = 0.45 x mean|x| of the utterance:
   c = x - CL where x >= CL, x + CL where x <= -CL, 0 in between. Left open by the cited work
   (its code takes the max and std of one autocorrelation of the whole clipped utterance, values
   that are energies rather than a pitch), ours: 64 ms frames (1024 samples) every 10 ms (160),
   no window; the frame's autocorrelation r(k) = sum_n c[n] c[n+k]; k* = the lag of its largest
   local peak in [16000/500, 16000/60] = [32, 267] samples (F0 60-500 Hz); voiced when there is
   one and r(k*) >= 0.3 r(0) (Rabiner's voicing rule for centre-clipped autocorrelation); k*
   refined by a parabola through the unbiased r(k) / (1024 - k) at k*-1, k*, k*+1; F0 = 16000 / k*.
"""
from __future__ import annotations

import numpy as np

from mer.features import register_feature

SAMPLE_RATE = 16000
RMS_FRAME, RMS_HOP = 2048, 512        # librosa.feature.rms defaults
SILENCE_SHARE = 0.4                   # silent frame: RMS <= 0.4 x mean RMS
HPSS_KERNEL = 31                      # librosa.decompose.hpss default
CLIP_SHARE = 0.45                     # centre-clipping level: 0.45 x mean |x|
PITCH_FRAME, PITCH_HOP = 1024, 160    # 64 ms (3.8 periods of 60 Hz) every 10 ms (ours)
F0_MIN, F0_MAX = 60.0, 500.0          # ours
VOICING = 0.3                         # r(k*) / r(0) of a voiced frame

SAHU8_NAMES = ("signal_abs_mean", "signal_std", "rms_mean", "rms_std", "silence_ratio",
               "harmonic_ratio", "pitch_max_hz", "pitch_std_hz")


def _frames(x: np.ndarray, size: int, hop: int) -> np.ndarray:
    """(1 + (len - size) // hop, size) frames that lie inside x (x at least `size` long)."""
    n = 1 + (len(x) - size) // hop
    return x[np.arange(size)[None, :] + hop * np.arange(n)[:, None]]


def frame_rms(x: np.ndarray) -> np.ndarray:
    """RMS of centred 2048-sample frames every 512 samples (librosa.feature.rms)."""
    padded = np.pad(x, RMS_FRAME // 2)
    return np.sqrt(np.mean(_frames(padded, RMS_FRAME, RMS_HOP) ** 2, axis=1))


def silence_ratio(rms: np.ndarray) -> float:
    return float(np.mean(rms <= SILENCE_SHARE * rms.mean()))


def _stft_magnitude(x: np.ndarray) -> np.ndarray:
    """(freqs, frames) |STFT|: n_fft 2048, hop 512, periodic Hann, centred, zero-padded (librosa.stft)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(RMS_FRAME) / RMS_FRAME)
    frames = _frames(np.pad(x, RMS_FRAME // 2), RMS_FRAME, RMS_HOP)
    return np.abs(np.fft.rfft(frames * window, axis=1)).T


def harmonic_ratio(x: np.ndarray) -> float:
    """|H|^2 / (|H|^2 + |P|^2) of librosa.effects.hpss's default median-filter separation."""
    from scipy.ndimage import median_filter

    mag = _stft_magnitude(x)
    harm = median_filter(mag, size=(1, HPSS_KERNEL), mode="reflect")   # smooth along time
    perc = median_filter(mag, size=(HPSS_KERNEL, 1), mode="reflect")   # smooth along frequency
    both = harm ** 2 + perc ** 2
    # soft masks (power 2); where both filters are 0 the energy is 0 too, so the split does not matter
    mask_h = np.divide(harm ** 2, both, out=np.full_like(both, 0.5), where=both > 0)
    h_energy = np.sum((mag * mask_h) ** 2)
    p_energy = np.sum((mag * (1.0 - mask_h)) ** 2)
    total = h_energy + p_energy
    return float(h_energy / total) if total > 0 else 0.0


def centre_clip(x: np.ndarray, level: float) -> np.ndarray:
    """x - level above level, x + level below -level, 0 in between."""
    return np.sign(x) * np.maximum(np.abs(x) - level, 0.0)


def pitch_track(x: np.ndarray) -> np.ndarray:
    """F0 (Hz) of each 40 ms frame (10 ms hop) from the centre-clipped autocorrelation, 0 where unvoiced."""
    clipped = centre_clip(x, CLIP_SHARE * np.mean(np.abs(x)))
    frames = _frames(clipped, PITCH_FRAME, PITCH_HOP)
    spec = np.fft.rfft(frames, 2 * PITCH_FRAME, axis=1)          # zero-padded: linear, not circular
    r = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :PITCH_FRAME]
    lo, hi = int(SAMPLE_RATE / F0_MAX), int(np.ceil(SAMPLE_RATE / F0_MIN))
    lags = np.arange(lo, hi + 1)
    inner = r[:, lags]
    # only local peaks compete: at low F0 the edge of the range can still lie on the lag-0 lobe
    peak = (inner >= r[:, lags - 1]) & (inner >= r[:, lags + 1])
    k = lags[np.argmax(np.where(peak, inner, -np.inf), axis=1)]
    rows = np.arange(len(frames))
    voiced = peak.any(axis=1) & (r[:, 0] > 0) & (r[rows, k] >= VOICING * r[:, 0])
    # the parabola goes through the unbiased values r(k) / (N - k): the biased ones lean towards short lags
    unbiased = r[:, :hi + 2] / (PITCH_FRAME - np.arange(hi + 2))
    a, b, c = unbiased[rows, k - 1], unbiased[rows, k], unbiased[rows, k + 1]
    denom = a - 2 * b + c
    shift = np.divide(0.5 * (a - c), denom, out=np.zeros_like(denom), where=np.abs(denom) > 0)
    return np.where(voiced, SAMPLE_RATE / (k + np.clip(shift, -0.5, 0.5)), 0.0)


def sahu8_features(x: np.ndarray) -> np.ndarray:
    """The eight values of SAHU8_NAMES, in that order (float64)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or len(x) < PITCH_FRAME:
        raise ValueError(f"audio of {len(x)} samples is shorter than one pitch frame ({PITCH_FRAME} samples)")
    rms = frame_rms(x)
    f0 = pitch_track(x)
    voiced = f0[f0 > 0]
    return np.array([np.mean(np.abs(x)), np.std(x), rms.mean(), rms.std(), silence_ratio(rms),
                     harmonic_ratio(x), voiced.max() if voiced.size else 0.0,
                     voiced.std() if voiced.size else 0.0], dtype=np.float64)


class Sahu8Extractor:
    kind = "audio"
    dim = len(SAHU8_NAMES)

    def info(self) -> dict:
        return {"dim": self.dim, "unit": "utterance", "feature_names": list(SAHU8_NAMES),
                "definition": "Sahu (2019) hand-crafted eight, see mer/features/sahu8.py"}

    def __call__(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        return [sahu8_features(w)[None, :].astype(np.float32) for w in waves]


register_feature("sahu8", lambda **_: Sahu8Extractor(),
                 description="the cited work's eight: signal and RMS mean/std, silence, harmonic ratio, "
                             "centre-clipped pitch max/std (system C)")
