"""Kaldi's CMVN over another input's frames: per speaker of the data dir read, or per utterance.

`cmvn_typical_prob: p` (with `cmvn: speaker`; training only): each time a training utterance is
loaded, with probability p it is normalised with a typical training speaker's statistics (the mean
of the per-speaker means and of the per-speaker standard deviations, `typical_stats`) instead of its
own speaker's. That is what a recording recognised without its speaker gets (mer.deploy_cmvn: the
pack keeps the same statistics), so the model learns to work on such recordings too.
"""
from __future__ import annotations

import logging

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


def typical_stats(source: CMVNInput, data: DataDir) -> tuple[tuple[torch.Tensor, torch.Tensor], int]:
    """The mean of the per-speaker means and of the per-speaker standard deviations over the
    speakers of `data` (float64 sums), and how many speakers."""
    speakers = sorted(set(data.utt2spk.values()))
    stats = [source.speaker_stats(data, spk) for spk in speakers]
    mean = torch.stack([m.double() for m, _ in stats]).mean(0).float()
    std = torch.stack([s.double() for _, s in stats]).mean(0).float()
    return (mean, std), len(speakers)


class TypicalStatsMix(CMVNInput):
    """A per-speaker CMVN input of a training set whose utterances are, with probability `prob` at
    each load (torch's random state: seeded and checkpointed with the training), normalised with
    the set's typical speaker statistics instead of their speaker's."""

    def __init__(self, source: CMVNInput, data: DataDir, prob: float):
        super().__init__(source.inner, source.mode)
        self.prob = prob
        self.typical, self.num_speakers = typical_stats(self, data)

    def load(self, data: DataDir, utt: str) -> torch.Tensor:
        if float(torch.rand(())) < self.prob:
            return normalise(self.inner.load(data, utt), self.typical)
        return super().load(data, utt)


def mix_typical_stats(inputs: dict, specs: dict, data: DataDir) -> dict:
    """`inputs` with each one whose spec sets `cmvn_typical_prob` > 0 mixed (TypicalStatsMix) over
    the training set `data`; the others as they are."""
    mixed = dict(inputs)
    for name, src in inputs.items():
        spec = specs.get(name)
        if isinstance(spec, dict) and spec.get("cmvn_typical_prob"):
            mixed[name] = TypicalStatsMix(src, data, float(spec["cmvn_typical_prob"]))
            logging.getLogger("mer.train").info(
                "inputs.%s: %.0f%% of training loads normalised with the typical statistics of %d training "
                "speakers (cmvn_typical_prob), as a recording recognised without its speaker is", name,
                100 * mixed[name].prob, mixed[name].num_speakers)
    return mixed


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


def check_typical_prob(name: str, spec: dict) -> None:
    """`cmvn_typical_prob`, where given: a probability, and only with `cmvn: speaker`."""
    prob = spec.get("cmvn_typical_prob")
    if prob is None:
        return
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
        raise ValueError(f"config: inputs.{name}.cmvn_typical_prob must be a probability in [0, 1], got {prob!r}")
    if spec.get("cmvn") != "speaker":
        raise ValueError(f"config: inputs.{name}.cmvn_typical_prob mixes in a typical speaker's statistics "
                         f"instead of each speaker's: it needs cmvn: speaker, got cmvn: {spec.get('cmvn')!r}")


def with_cmvn(source, spec: dict):
    """`source`, normalised as the input spec's `cmvn` says (unchanged without one)."""
    return CMVNInput(source, spec["cmvn"]) if spec.get("cmvn") else source
