"""A Kaldi-style data directory for emotion recognition, in memory.

Files (one `<key> <value>` per line, C-sorted):
  wav.scp      <utt-or-recording> <path | command ending in '|'>
  segments     <utt> <recording> <start_s> <end_s>           (optional; wav.scp is then per recording)
  text         <utt> <transcript>
  utt2spk      <utt> <speaker>        spk2utt is derived from it
  utt2emo      <utt> <emotion label>
  utt2gender, utt2session, utt2dialog, utt2turn, utt2dur     (optional per-utterance files)

A data dir without wav.scp is text-only (MELD with only its CSVs).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from mer.data.kaldi_io import c_sort_key, read_kv, utt2spk_to_spk2utt, write_kv

# Per-utterance files besides text/utt2spk/utt2emo that are read, written and subset alike.
OPTIONAL_UTT_FILES = ("utt2gender", "utt2session", "utt2dialog", "utt2turn", "utt2dur", "utt2split")
REQUIRED_UTT_FILES = ("utt2spk",)


@dataclass
class Segment:
    recording: str
    start: float
    end: float

    def __str__(self) -> str:
        return f"{self.recording} {self.start:.3f} {self.end:.3f}"


@dataclass
class DataDir:
    utt2spk: dict[str, str] = field(default_factory=dict)
    wav_scp: dict[str, str] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)
    utt2emo: dict[str, str] = field(default_factory=dict)
    extra: dict[str, dict[str, str]] = field(default_factory=dict)  # utt2gender etc.

    # ---- queries
    @property
    def utts(self) -> list[str]:
        return sorted(self.utt2spk, key=c_sort_key)

    def __len__(self) -> int:
        return len(self.utt2spk)

    @property
    def speakers(self) -> list[str]:
        return sorted(set(self.utt2spk.values()), key=c_sort_key)

    def audio_spec(self, utt: str) -> tuple[str, Segment | None]:
        """The wav.scp entry that holds `utt` and the segment to cut from it (None: whole file)."""
        if self.segments:
            seg = self.segments[utt]
            return self.wav_scp[seg.recording], seg
        return self.wav_scp[utt], None

    # ---- building
    def add(self, utt: str, spk: str, *, wav: str | None = None, text: str | None = None,
            emo: str | None = None, segment: Segment | None = None, **extra: str) -> None:
        """Add one utterance; extra keyword `gender="f"` goes to utt2gender, and so on."""
        if utt in self.utt2spk:
            raise ValueError(f"duplicate utterance id {utt}")
        self.utt2spk[utt] = spk
        if segment is not None:
            self.segments[utt] = segment
            if wav is not None:
                self.wav_scp[segment.recording] = wav
        elif wav is not None:
            self.wav_scp[utt] = wav
        if text is not None:
            self.text[utt] = text
        if emo is not None:
            self.utt2emo[utt] = emo
        for name, value in extra.items():
            if value is not None:
                self.extra.setdefault(f"utt2{name}", {})[utt] = str(value)

    # ---- I/O
    @classmethod
    def load(cls, path: str | os.PathLike) -> "DataDir":
        p = Path(path)
        if not (p / "utt2spk").is_file():
            raise FileNotFoundError(f"{p}: not a data directory (no utt2spk)")
        d = cls(utt2spk=read_kv(p / "utt2spk"))
        if (p / "wav.scp").is_file():
            d.wav_scp = read_kv(p / "wav.scp")
        if (p / "segments").is_file():
            for utt, value in read_kv(p / "segments").items():
                reco, start, end = value.split()
                d.segments[utt] = Segment(reco, float(start), float(end))
        if (p / "text").is_file():
            d.text = read_kv(p / "text", allow_empty_value=True)
        if (p / "utt2emo").is_file():
            d.utt2emo = read_kv(p / "utt2emo")
        for name in OPTIONAL_UTT_FILES:
            if (p / name).is_file():
                d.extra[name] = read_kv(p / name)
        return d

    def save(self, path: str | os.PathLike) -> None:
        """Write every non-empty file (C-sorted, atomically) and spk2utt."""
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        write_kv(p / "utt2spk", self.utt2spk)
        write_kv(p / "spk2utt", utt2spk_to_spk2utt(self.utt2spk), sort=False)
        if self.wav_scp:
            write_kv(p / "wav.scp", self.wav_scp)
        if self.segments:
            write_kv(p / "segments", {u: str(s) for u, s in self.segments.items()})
        if self.text:
            write_kv(p / "text", self.text)
        if self.utt2emo:
            write_kv(p / "utt2emo", self.utt2emo)
        for name, mapping in self.extra.items():
            if mapping:
                write_kv(p / name, mapping)

    # ---- subsetting
    def subset(self, utts: Iterable[str]) -> "DataDir":
        """A new DataDir holding only `utts` (unknown ids are an error)."""
        keep = set(utts)
        missing = keep - self.utt2spk.keys()
        if missing:
            raise KeyError(f"{len(missing)} utterance(s) not in the data dir, e.g. {sorted(missing)[:3]}")
        sub = DataDir(
            utt2spk={u: s for u, s in self.utt2spk.items() if u in keep},
            text={u: t for u, t in self.text.items() if u in keep},
            utt2emo={u: e for u, e in self.utt2emo.items() if u in keep},
            extra={n: {u: v for u, v in m.items() if u in keep} for n, m in self.extra.items()},
        )
        if self.segments:
            sub.segments = {u: s for u, s in self.segments.items() if u in keep}
            recos = {s.recording for s in sub.segments.values()}
            sub.wav_scp = {r: w for r, w in self.wav_scp.items() if r in recos}
        else:
            sub.wav_scp = {u: w for u, w in self.wav_scp.items() if u in keep}
        return sub

    def filter(self, predicate) -> "DataDir":
        return self.subset(u for u in self.utt2spk if predicate(u))
