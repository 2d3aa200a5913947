"""The one audio loader: every recipe reads audio through `load_audio`.

Accepts what `wav.scp` holds: a file path (any RIFF layout soundfile reads: extra chunks before
`data`, PCM 16/24/32-bit, float, WAVE_FORMAT_EXTENSIBLE; also FLAC/OGG) or a shell command ending in
`|` whose standard output is such a file (e.g. `ffmpeg ... -f wav - |`). Returns mono float32 at
16 kHz scaled to [-1, 1]: integer PCM is divided by its full scale, stereo is averaged, other rates
are resampled. A `segments` entry cuts [start, end) seconds out of the recording.
"""
from __future__ import annotations

import io
import logging
import os
import re
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile as sf

log = logging.getLogger("mer.audio")
TARGET_SR = 16000
_SAMPLE_BYTES = {"PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8, "PCM_U8": 1, "PCM_S8": 1}
# A segment may end this far past the end of its recording (rounding in the corpus' times).
SEGMENT_END_TOLERANCE_S = 0.05


class AudioError(RuntimeError):
    """Audio that cannot be read; names the utterance, the source and why."""

    def __init__(self, utt: str | None, source: str, reason: str):
        self.utt, self.source, self.reason = utt, source, reason
        who = f"utterance {utt}: " if utt else ""
        super().__init__(f"{who}cannot read audio from '{source}': {reason}")


@dataclass(frozen=True)
class Cut:
    start: float
    end: float


def is_pipe(spec: str) -> bool:
    return spec.rstrip().endswith("|")


def _run_pipe(spec: str, utt: str | None) -> bytes:
    cmd = spec.rstrip()[:-1]
    proc = subprocess.run(["bash", "-c", cmd], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AudioError(utt, spec, f"command exited with code {proc.returncode}"
                         + (f": {err[-1]}" if err else ""))
    if not proc.stdout:
        raise AudioError(utt, spec, "command produced no output")
    return proc.stdout


def _read(source, spec: str, utt: str | None, start: int = 0, stop: int | None = None):
    try:
        data, sr = sf.read(source, dtype="float32", always_2d=True, start=start, stop=stop)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
        reason = str(e) if isinstance(source, str) else str(e).replace(repr(source), "the pipe's output")
        raise AudioError(utt, spec, f"not a readable audio file ({reason})") from None
    except FileNotFoundError:
        raise AudioError(utt, spec, "file not found") from None
    return data, sr


def resample(wave: np.ndarray, sr: int, target_sr: int = TARGET_SR) -> np.ndarray:
    if sr == target_sr:
        return wave
    import torch
    import torchaudio.functional as AF

    return AF.resample(torch.from_numpy(np.ascontiguousarray(wave)), sr, target_sr).numpy()


def load_audio(spec: str, cut: Cut | None = None, *, utt: str | None = None,
               target_sr: int = TARGET_SR) -> np.ndarray:
    """Read one wav.scp entry (optionally a segment of it) as mono float32 at `target_sr`."""
    spec = spec.strip()
    if is_pipe(spec):
        data, sr = _read(io.BytesIO(_run_pipe(spec, utt)), spec, utt)
        if cut is not None:
            data = _cut(data, sr, cut, spec, utt)
    else:
        if not os.path.isfile(spec):
            raise AudioError(utt, spec, "file not found")
        try:
            info = sf.info(spec)
        except FileNotFoundError:
            raise AudioError(utt, spec, "file not found") from None
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioError(utt, spec, f"not a readable audio file ({e})") from None
        _warn_if_truncated(info, spec, utt)
        if cut is None:
            data, sr = _read(spec, spec, utt)
        else:
            # Read only the segment: full-video recordings (CMU-MOSEI) are long.
            sr = info.samplerate
            begin, stop = _cut_bounds(info.frames, sr, cut, spec, utt)
            data, sr = _read(spec, spec, utt, start=begin, stop=stop)
    if data.shape[0] == 0:
        raise AudioError(utt, spec, "no samples" + (f" in segment {cut.start}-{cut.end} s" if cut else ""))
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(wave)):
        raise AudioError(utt, spec, "samples are NaN or infinite")
    return resample(np.ascontiguousarray(wave, dtype=np.float32), sr, target_sr)


_SHOULD_BE = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)


def _warn_if_truncated(info, spec: str, utt: str | None) -> None:
    """libsndfile reads what a cut file holds and says so only in its header report: pass it on."""
    m = _SHOULD_BE.search(getattr(info, "extra_info", "") or "")
    if m and int(m.group(2)) < int(m.group(1)):
        promised, held = int(m.group(1)), int(m.group(2))
        bytes_per_second = info.samplerate * info.channels * max(1, _SAMPLE_BYTES.get(info.subtype, 2))
        log.warning("%s%s: truncated: its header promises %.3f s of audio, the file holds %.3f s; using "
                    "what is there", f"utterance {utt}: " if utt else "", spec, promised / bytes_per_second,
                    held / bytes_per_second)


def _cut_bounds(num_frames: int, sr: int, cut: Cut, spec: str, utt: str | None) -> tuple[int, int]:
    start = max(0.0, cut.start)  # corpora (CMU-MOSEI) have slightly negative start times
    if cut.end <= start:
        raise AudioError(utt, spec, f"segment end {cut.end} <= start {cut.start}")
    duration = num_frames / sr
    if start >= duration or cut.end > duration + SEGMENT_END_TOLERANCE_S:
        raise AudioError(utt, spec, f"segment {cut.start}-{cut.end} s lies outside the "
                                    f"recording ({duration:.3f} s)")
    return int(round(start * sr)), min(num_frames, int(round(cut.end * sr)))


def _cut(data: np.ndarray, sr: int, cut: Cut, spec: str, utt: str | None) -> np.ndarray:
    begin, stop = _cut_bounds(data.shape[0], sr, cut, spec, utt)
    return data[begin:stop]


def load_utterance(datadir, utt: str, target_sr: int = TARGET_SR) -> np.ndarray:
    """Audio of one utterance of a `mer.data.datadir.DataDir` (wav.scp, with segments if any)."""
    try:
        spec, seg = datadir.audio_spec(utt)
    except KeyError as e:
        raise AudioError(utt, "wav.scp", f"no wav.scp/segments entry {e}") from None
    cut = Cut(seg.start, seg.end) if seg is not None else None
    return load_audio(spec, cut, utt=utt, target_sr=target_sr)
