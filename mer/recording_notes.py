"""What about a recording makes a recogniser's label doubtful whatever the model: too short for the
encoder to see one frame of it, silent, longer than the encoder's window, or cut. The recogniser
puts each note in the result's `differs` and on stderr."""
from __future__ import annotations

import numpy as np

from mer.features.windows import SAMPLE_RATE

# No sample reaches this level (re full scale): nothing but a noise floor was recorded.
SILENCE_DBFS = -60.0
# What one frame of fbank, MFCC or a raw-waveform model sees (25 ms), for encoders that declare none.
DEFAULT_RECEPTIVE_FIELD_S = 0.025


def short_or_silent(wave: np.ndarray, receptive_field_s: float) -> dict[str, str]:
    """`recording.short` and/or `recording.silent`, in words, for a 16 kHz recording."""
    notes = {}
    seconds = len(wave) / SAMPLE_RATE
    if seconds < receptive_field_s:
        notes["recording.short"] = (f"the recording is {seconds:.3f} s long, shorter than what one frame of the "
                                f"encoder sees ({receptive_field_s:.3f} s): the label rests on (almost) no audio")
    peak = float(np.max(np.abs(wave))) if len(wave) else 0.0
    if peak < 10 ** (SILENCE_DBFS / 20):
        level = f"its peak is {20 * np.log10(peak):.0f} dBFS" if peak > 0 else "every sample is zero"
        notes["recording.silent"] = (f"the recording is silent ({level}; below {SILENCE_DBFS:.0f} dBFS counts as "
                                     f"silence): the label says nothing about an emotion")
    return notes


def windows_note(extractor, n_samples: int) -> str | None:
    """How a recording longer than the encoder's window was encoded; None if it fits one window."""
    window = getattr(extractor, "audio_window", None)
    if window is None or n_samples <= window.step + window.overlap:
        return None
    n = len(window.spans(n_samples))
    return (f"the recording ({n_samples / SAMPLE_RATE:.1f} s) is longer than the encoder's "
            f"{window.step / SAMPLE_RATE:g} s window: encoded in {n} consecutive windows, each without the "
            f"others' context, and their frames joined (all of the recording counts)")


def cut_note(n_samples: int, sample_rate: int, max_seconds: float) -> str | None:
    """A raw-waveform input the model reads only the first max_seconds of, as in training."""
    seconds = n_samples / sample_rate
    if seconds <= max_seconds:
        return None
    return (f"the model reads the first {max_seconds:g} s of its raw waveform (as in training); "
            f"the remaining {seconds - max_seconds:.1f} s of the recording are not used")
