"""A Kaldi-style data directory for emotion recognition, in memory.

Files (one `<key> <value>` per line, C-sorted):
  wav.scp      <utt-or-recording> <path | command ending in '|'>
  segments     <utt> <recording> <start_s> <end_s>           (optional; wav.scp is then per recording)
  text         <utt> <transcript>
  utt2spk      <utt> <speaker>        spk2utt is derived from it
  utt2emo      <utt> <emotion label>
  utt2gender, utt2session, utt2dur                           (optional per-utterance files)
  utt2dialog   <utt> <dialogue id>    (optional; where the corpus has dialogues)
  utt2turn     <utt> <number>         (with utt2dialog) the order within the dialogue: sort by
                                      (turn, utt id); seconds where start times are known, else an index

Any other `utt2<name>` file and `feats.scp` are per-utterance too; `reco2dur` and
`reco2file_and_channel` are per recording (the wav.scp keys); `spk2gender` and `cmvn.scp` are per
speaker. All of them are read, subset and written alike.

A data dir without wav.scp is text-only (MELD with only its CSVs).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from mer.data.kaldi_io import DataFileError, c_sort_key, read_kv, utt2spk_to_spk2utt, write_kv

# Per-utterance files besides text/utt2spk/utt2emo that are read, written and subset alike.
OPTIONAL_UTT_FILES = ("utt2gender", "utt2session", "utt2dialog", "utt2turn", "utt2dur", "utt2split")
REQUIRED_UTT_FILES = ("utt2spk",)
# The files every data dir is built from (spk2utt is derived from utt2spk).
CORE_FILES = ("utt2spk", "spk2utt", "wav.scp", "segments", "text", "utt2emo")
# Keyed by recording (the keys of wav.scp), and by speaker.
PER_RECO_FILES = ("reco2dur", "reco2file_and_channel")
PER_SPK_FILES = ("spk2gender", "cmvn.scp")
# Files that describe the whole dir (the label set that corpus preparation writes, the utterances it
# kept with an empty transcript, ESPnet dump info); subsetting and splitting copy them as they are.
GLOBAL_FILES = ("labels", "text_missing", "feats_type", "feats_dim", "frame_shift")
_EXTRA_UTT_FILE = re.compile(r"utt2[A-Za-z0-9_]+")


def is_extra_utt_file(name: str) -> bool:
    """A per-utterance file held in `DataDir.extra`: any `utt2<name>` but utt2spk/utt2emo, or feats.scp."""
    return name == "feats.scp" or (_EXTRA_UTT_FILE.fullmatch(name) is not None
                                   and name not in ("utt2spk", "utt2emo"))


def extra_utt_files(path: str | os.PathLike) -> list[str]:
    """Names of the extra per-utterance files present in a data dir, sorted."""
    return sorted(e.name for e in os.scandir(path) if e.is_file() and is_extra_utt_file(e.name))


def data_files(path: str | os.PathLike) -> list[str]:
    """Names of the keyed data files present in a data dir: core, extra per-utt, per-reco, per-speaker."""
    p = Path(path)
    names = [n for n in CORE_FILES + PER_RECO_FILES + PER_SPK_FILES if (p / n).is_file()]
    return names + extra_utt_files(p)


def per_utt_files(path: str | os.PathLike) -> list[str]:
    """The files present that must hold exactly the utterances of utt2spk (wav.scp only when
    there is no segments file; with one, wav.scp is keyed by recording)."""
    names = data_files(path)
    per_utt = [n for n in ("segments", "text", "utt2emo") if n in names] + extra_utt_files(path)
    return (["wav.scp"] if "wav.scp" in names and "segments" not in names else []) + per_utt


def format_seconds(x: float) -> str:
    """Seconds with 3 decimals, or every digit needed where 3 would change the value."""
    short = f"{x:.3f}"
    return short if float(short) == x else repr(float(x))


def parse_turn(value: str) -> float:
    """A utt2turn value as a number; ValueError unless it is a finite number (a sort key must compare)."""
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"could not convert string to a finite number: {value!r}")
    return x


def _check_turns(path: Path, turns: dict[str, str]) -> None:
    """DataFileError naming the line of the first utt2turn value that is not a number."""
    # read_kv refuses empty lines, so the n-th entry is line n.
    for lineno, (utt, value) in enumerate(turns.items(), 1):
        try:
            parse_turn(value)
        except ValueError:
            raise DataFileError(path, lineno, f"turn '{value}' of utterance '{utt}' is not a number") from None


@dataclass
class Segment:
    recording: str
    start: float
    end: float

    def __str__(self) -> str:
        return f"{self.recording} {format_seconds(self.start)} {format_seconds(self.end)}"


@dataclass
class DataDir:
    utt2spk: dict[str, str] = field(default_factory=dict)
    wav_scp: dict[str, str] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)
    utt2emo: dict[str, str] = field(default_factory=dict)
    extra: dict[str, dict[str, str]] = field(default_factory=dict)  # utt2gender, feats.scp etc.
    reco_extra: dict[str, dict[str, str]] = field(default_factory=dict)  # reco2dur etc.
    spk_extra: dict[str, dict[str, str]] = field(default_factory=dict)  # spk2gender, cmvn.scp
    # Where the data came from (set by load, kept by subset), so errors can name the dir.
    source: str | None = field(default=None, compare=False, repr=False)

    # ---- queries
    @property
    def utts(self) -> list[str]:
        return sorted(self.utt2spk, key=c_sort_key)

    def __len__(self) -> int:
        return len(self.utt2spk)

    @property
    def speakers(self) -> list[str]:
        return sorted(set(self.utt2spk.values()), key=c_sort_key)

    @property
    def utt2turn(self) -> dict[str, float]:
        """utt2turn as numbers (empty when there is none); `load` has checked the file's values."""
        out = {}
        for utt, value in self.extra.get("utt2turn", {}).items():
            try:
                out[utt] = parse_turn(value)
            except ValueError:
                raise ValueError(f"{self.source or 'data dir'}: utt2turn value '{value}' of utterance "
                                 f"'{utt}' is not a number") from None
        return out

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
        d = cls(utt2spk=read_kv(p / "utt2spk"), source=str(p))
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
        for name in extra_utt_files(p):
            d.extra[name] = read_kv(p / name)
        _check_turns(p / "utt2turn", d.extra.get("utt2turn", {}))
        for names, target in ((PER_RECO_FILES, d.reco_extra), (PER_SPK_FILES, d.spk_extra)):
            for name in names:
                if (p / name).is_file():
                    target[name] = read_kv(p / name)
        return d

    def save(self, path: str | os.PathLike) -> list[str]:
        """Write every non-empty file (C-sorted, atomically) and spk2utt; return the names written."""
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        files: dict[str, dict[str, str]] = {
            "utt2spk": self.utt2spk,
            "spk2utt": utt2spk_to_spk2utt(self.utt2spk),
            "wav.scp": self.wav_scp,
            "segments": {u: str(s) for u, s in self.segments.items()},
            "text": self.text,
            "utt2emo": self.utt2emo,
            **self.extra, **self.reco_extra, **self.spk_extra,
        }
        written = []
        for name, mapping in files.items():
            if mapping or name in ("utt2spk", "spk2utt"):
                write_kv(p / name, mapping, sort=name != "spk2utt")
                written.append(name)
        return written

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
            source=self.source,
        )
        if self.segments:
            sub.segments = {u: s for u, s in self.segments.items() if u in keep}
            recos = {s.recording for s in sub.segments.values()}
        else:
            recos = keep
        sub.wav_scp = {r: w for r, w in self.wav_scp.items() if r in recos}
        sub.reco_extra = {n: {r: v for r, v in m.items() if r in recos} for n, m in self.reco_extra.items()}
        speakers = set(sub.utt2spk.values())
        sub.spk_extra = {n: {s: v for s, v in m.items() if s in speakers} for n, m in self.spk_extra.items()}
        return sub

    @classmethod
    def combine(cls, dirs: list["DataDir"]) -> "DataDir":
        """One DataDir holding the utterances of all `dirs` (Kaldi's utils/combine_data.sh); an
        utterance in two of them is an error."""
        out = cls(source=" + ".join(str(d.source) for d in dirs))
        for d in dirs:
            twice = out.utt2spk.keys() & d.utt2spk.keys()
            if twice:
                raise ValueError(f"{d.source}: {len(twice)} utterance(s) also in {out.source}, e.g. {sorted(twice)[0]}")
            for name in ("utt2spk", "wav_scp", "segments", "text", "utt2emo"):
                getattr(out, name).update(getattr(d, name))
            for name in ("extra", "reco_extra", "spk_extra"):
                for key, table in getattr(d, name).items():
                    getattr(out, name).setdefault(key, {}).update(table)
        return out

    def filter(self, predicate) -> "DataDir":
        return self.subset(u for u in self.utt2spk if predicate(u))
