"""Cutting a long recording into segments for emotion over time (`mer-recognize --segment`).

Two ways, both named options:
- `fixed`: windows of `window` seconds every `hop` seconds (the last one shorter, down to `window`/2).
- `vad`: an energy voice-activity detector. The recording is read once in blocks; each 30 ms frame's
  RMS level (dBFS) is kept (a few floats per second, so memory does not grow with the audio), and a
  frame is speech when its level is at least `threshold_db`, by default the higher of -55 dBFS and
  35 dB below the recording's 95th-percentile frame level (loud recordings and quiet ones alike).
  Speech runs closer than `min_silence` seconds are joined, runs shorter than `min_speech` seconds
  are dropped, and runs longer than `max_segment` seconds are split into equal parts (a turn of
  several minutes still shows its changes).
Segments are read one at a time from the file (`mer.data.audio.load_audio` with a cut), so memory
stays flat with the recording's length. Only plain audio files can be segmented (not wav.scp
commands: they would be run once per segment).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from mer.data.audio import AudioError, Cut, load_audio

FRAME_SECONDS = 0.03
BLOCK_SECONDS = 10.0  # audio read at once by the VAD's pass
SEGMENT_MODES = ("fixed", "vad")


@dataclass(frozen=True)
class SegmentOptions:
    mode: str = "vad"
    window: float = 4.0          # fixed: window length, s
    hop: float = 2.0             # fixed: step between window starts, s
    min_speech: float = 0.3      # vad: shorter speech runs are dropped, s
    min_silence: float = 0.3     # vad: shorter pauses do not end a segment, s
    max_segment: float = 10.0    # vad: longer segments are split into equal parts, s
    threshold_db: float | None = None  # vad: speech level in dBFS (None: from the recording)

    def check(self) -> None:
        if self.mode not in SEGMENT_MODES:
            raise ValueError(f"--segment must be one of {', '.join(SEGMENT_MODES)}, got '{self.mode}'")
        for name in ("window", "hop", "max_segment"):
            if not getattr(self, name) > 0:
                raise ValueError(f"segment {name} must be > 0, got {getattr(self, name)}")
        for name in ("min_speech", "min_silence"):
            if getattr(self, name) < 0:
                raise ValueError(f"segment {name} must be >= 0, got {getattr(self, name)}")


def duration(path: str) -> float:
    """Seconds of audio in `path` (from its header)."""
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(None, path, f"not a readable audio file ({e})") from None
    return info.frames / info.samplerate


def fixed_segments(seconds: float, window: float, hop: float) -> list[tuple[float, float]]:
    """Windows [start, end) covering `seconds`; a tail shorter than half a window is left out
    unless it is all there is."""
    out, start = [], 0.0
    while start < seconds:
        end = min(start + window, seconds)
        if end - start >= window / 2 or not out:
            out.append((round(start, 3), round(end, 3)))
        if end >= seconds:
            break
        start += hop
    return out


def frame_levels(path: str) -> tuple[np.ndarray, float]:
    """Each FRAME_SECONDS frame's RMS level in dBFS (channels averaged), read in blocks; and the
    frame length in seconds."""
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(None, path, f"not a readable audio file ({e})") from None
    frame = max(1, int(round(FRAME_SECONDS * info.samplerate)))
    block = frame * max(1, int(BLOCK_SECONDS / FRAME_SECONDS))
    levels = []
    for data in sf.blocks(path, blocksize=block, dtype="float32", always_2d=True):
        mono = data.mean(axis=1)
        n = len(mono) // frame
        if n == 0:
            continue
        power = np.mean(mono[:n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)
        levels.append(10 * np.log10(np.maximum(power, 1e-12)))
    return (np.concatenate(levels) if levels else np.zeros(0)), frame / info.samplerate


def speech_runs(levels: np.ndarray, frame_s: float, opts: SegmentOptions) -> list[tuple[float, float]]:
    """The VAD's segments from frame levels (see the module doc)."""
    if len(levels) == 0:
        return []
    threshold = opts.threshold_db
    if threshold is None:
        threshold = max(-55.0, float(np.percentile(levels, 95)) - 35.0)
    speech = levels >= threshold
    runs, start = [], None
    for i, s in enumerate(np.append(speech, False)):
        if s and start is None:
            start = i
        elif not s and start is not None:
            runs.append([start * frame_s, i * frame_s])
            start = None
    joined: list[list[float]] = []
    for run in runs:
        if joined and run[0] - joined[-1][1] < opts.min_silence:
            joined[-1][1] = run[1]
        else:
            joined.append(run)
    out = []
    for a, b in joined:
        if b - a < opts.min_speech:
            continue
        parts = max(1, math.ceil((b - a) / opts.max_segment))
        step = (b - a) / parts
        out += [(round(a + k * step, 3), round(a + (k + 1) * step, 3)) for k in range(parts)]
    return out


def segments(path: str, opts: SegmentOptions) -> list[tuple[float, float]]:
    """[(start, end)] in seconds, in order."""
    opts.check()
    if not os.path.isfile(path):
        raise AudioError(None, path, "file not found (segment mode reads audio files, not wav.scp commands)")
    if opts.mode == "fixed":
        return fixed_segments(duration(path), opts.window, opts.hop)
    levels, frame_s = frame_levels(path)
    return speech_runs(levels, frame_s, opts)


def read_segment(path: str, start: float, end: float) -> np.ndarray:
    """The segment's samples, mono, 16 kHz (only that part of the file is read)."""
    return load_audio(path, Cut(start, end))
