"""Kaldi's CMVN over another input's frames: per speaker of the data dir read, or per utterance."""
from __future__ import annotations

import torch

from mer.data.datadir import DataDir

CMVN_MODES = ("speaker", "utterance")


class CMVNInput:
    """Another input's frames with each dimension's mean and variance normalised (Kaldi's CMVN):
    `speaker` over all frames of the utterance's speaker in the data dir being read (utt2spk), so
    a test speaker's statistics come from that speaker's own unlabelled test utterances, as Kaldi
    recipes compute them per data dir; `utterance` over the utterance's own frames. Statistics
    are accumulated in float64, once per (data dir, speaker)."""

    def __init__(self, inner, mode: str):
        check_cmvn(f"inputs.{inner.name}.cmvn", mode)
        self.inner, self.mode = inner, mode
        self.name, self.info = inner.name, inner.info
        # id(data dir) -> (the data dir, kept so that its id is never reused while cached; its
        # utterances by speaker; the statistics of the speakers met so far)
        self._dirs: dict[int, tuple[DataDir, dict[str, list[str]], dict[str, tuple[torch.Tensor, torch.Tensor]]]] = {}

    def describe(self) -> dict:
        return {**self.inner.describe(), "cmvn": self.mode}

    def missing(self, data: DataDir, utts: list[str]) -> list[str]:
        return self.inner.missing(data, utts)

    def remedy(self, data_dir: str) -> str:
        return self.inner.remedy(data_dir)

    def length(self, data: DataDir, utt: str) -> int:
        return self.inner.length(data, utt)

    def load(self, data: DataDir, utt: str) -> torch.Tensor:
        x = self.inner.load(data, utt)
        if self.mode == "utterance":
            return normalise(x, moments([x]))
        return normalise(x, self.speaker_stats(data, data.utt2spk[utt]))

    def speaker_stats(self, data: DataDir, spk: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation over all frames of speaker `spk`'s utterances in `data`."""
        if id(data) not in self._dirs:
            by_speaker: dict[str, list[str]] = {}
            for u, s in data.utt2spk.items():
                by_speaker.setdefault(s, []).append(u)
            self._dirs[id(data)] = (data, by_speaker, {})
        _, by_speaker, stats = self._dirs[id(data)]
        if spk not in stats:
            utts = by_speaker[spk]
            absent = set(self.inner.missing(data, utts))
            stats[spk] = moments(self.inner.load(data, u) for u in utts if u not in absent)
        return stats[spk]


def normalise(x: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    mean, std = stats
    return ((x - mean) / std).to(x.dtype)


def moments(frames) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation (floored) over the frames of several matrices."""
    return finish(accumulate(frames))


def accumulate(frames, sums=(0, 0.0, 0.0)):
    """(frame count, sum, sum of squares) in float64, added to `sums` (frames seen before)."""
    n, total, squares = sums
    for x in frames:
        x = x.double()
        n, total, squares = n + x.shape[0], total + x.sum(0), squares + (x * x).sum(0)
    return n, total, squares


def finish(sums) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation (floored) from accumulated sums."""
    n, total, squares = sums
    if n == 0:
        raise ValueError("CMVN: no frames to compute statistics from")
    mean = total / n
    var = (squares / n - mean * mean).clamp(min=0.0)
    return mean.float(), var.sqrt().clamp(min=1e-5).float()


def check_cmvn(where: str, mode) -> None:
    """`where` (the option's name in the message) must be one of CMVN_MODES."""
    if mode not in CMVN_MODES:
        raise ValueError(f"{where} must be one of {CMVN_MODES}, got {mode!r}")


def with_cmvn(source, spec: dict):
    """`source`, normalised as the input spec's `cmvn` says (unchanged without one)."""
    return CMVNInput(source, spec["cmvn"]) if spec.get("cmvn") else source
