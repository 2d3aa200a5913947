"""Validate a Kaldi-style data directory (what `utils/validate_data_dir.sh` runs).

Each problem is one line, `FILE:LINE: problem` (`FILE: problem` where no line applies), so an
editor or `grep` can jump to it. Errors make a directory invalid; warnings (a single speaker,
utt2spk not also sorted by speaker, recordings no segment uses) do not.

Checked:
- required files: utt2spk, spk2utt, utt2emo, wav.scp (unless no_wav), text (unless no_text);
- every file: UTF-8, final newline, no empty lines or DOS line ends, keys unique and sorted
  under `LC_ALL=C` (the first out-of-order line is reported), a value on every line;
- text: an empty transcript only for an utterance corpus preparation listed in DIR/text_missing
  (with its reason), or anywhere with allow_empty_text;
- every per-utterance file (text, utt2emo, segments, feats.scp, any utt2<name>, and wav.scp when
  there is no segments file) holds exactly the utterances of utt2spk;
- spk2utt agrees with utt2spk; spk2gender/cmvn.scp hold exactly its speakers;
- segments: `<utt> <recording> <start> <end>` with end > start >= 0 and the recording in wav.scp
  (wav.scp is then keyed by recording, as are reco2dur and reco2file_and_channel);
- wav.scp: a command must end in `|` (with no_pipes, commands are errors: Kaldi runs them with a
  shell when the audio is read, so a corpus from an untrusted source is checked with --no-pipes);
  anything else is one path, read as it stands: one with spaces (or a `|` inside) must name an
  existing file, since a missing one is more likely a command without its `|`; no `~` paths;
- utt2emo labels are within the recipe's label set: the one given, else DIR/labels (one label
  per line, written by corpus preparation) when present;
- utt2dur, reco2dur, utt2num_frames, utt2num_samples hold positive numbers;
- utt2turn holds finite numbers (any sign: a sort key within the dialogue) and comes with
  utt2dialog.
"""
from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

from mer.data.datadir import PER_RECO_FILES, PER_SPK_FILES, data_files, parse_turn, per_utt_files
from mer.data.kaldi_io import c_sort_key, read_list
from mer.data.text import empty_text_allowed, empty_text_problem

# At most this many lines are reported per file and kind of problem; the rest are counted.
MAX_PER_KIND = 5
FIX_HINT = "utils/fix_data_dir.sh"
# Files whose values must be positive numbers (int: whole numbers).
NUMERIC_FILES = {"utt2dur": float, "reco2dur": float, "utt2num_frames": int, "utt2num_samples": int}


@dataclass
class Entry:
    lineno: int
    key: str
    value: str


@dataclass
class ScannedFile:
    """The lines of one data-dir file, parsed without giving up on the first bad one."""
    path: Path
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # encoding, line ends, empty lines
    first: dict[str, Entry] = field(default_factory=dict)  # first entry of each key
    notes: list[str] = field(default_factory=list)  # harmless things worth a warning (a byte-order mark)

    @property
    def name(self) -> str:
        return self.path.name


def scan_file(path: str | os.PathLike) -> ScannedFile:
    """Parse `<key> <value...>` lines; line-format problems are collected, not raised."""
    sf = ScannedFile(Path(path))
    data = sf.path.read_bytes()
    if not data:
        sf.problems.append(f"{sf.path}: empty file")
        return sf
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    else:
        sf.problems.append(f"{sf.path}:{len(lines)}: no newline at the end of the file")
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):  # a byte-order mark (Windows editors) is no part of the key
        lines[0] = lines[0][3:]
        sf.notes.append(f"{sf.path}:1: a UTF-8 byte-order mark was ignored")
    for lineno, raw in enumerate(lines, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            sf.problems.append(f"{sf.path}:{lineno}: not valid UTF-8 (byte {exc.start} of the line)")
            continue
        if line.endswith("\r"):
            sf.problems.append(f"{sf.path}:{lineno}: DOS line ending (carriage return)")
            line = line[:-1]
        if not line.strip():
            sf.problems.append(f"{sf.path}:{lineno}: empty line")
            continue
        if line[0].isspace():
            sf.problems.append(f"{sf.path}:{lineno}: line starts with white space")
        parts = line.split(maxsplit=1)
        entry = Entry(lineno, parts[0], parts[1].strip() if len(parts) > 1 else "")
        sf.entries.append(entry)
        sf.first.setdefault(entry.key, entry)
    return sf


class ValidationResult(NamedTuple):
    errors: list[str]
    warnings: list[str]
    num_utts: int
    num_speakers: int

    @property
    def ok(self) -> bool:
        return not self.errors


class _Report:
    """Collects problems, showing at most MAX_PER_KIND per (file, kind) and counting the rest."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self._counts: Counter[tuple[str, str, bool]] = Counter()

    def error(self, msg: str, where: Path | str = "", kind: str = "") -> None:
        self._add(msg, str(where), kind, warning=False)

    def warn(self, msg: str, where: Path | str = "", kind: str = "") -> None:
        self._add(msg, str(where), kind, warning=True)

    def _add(self, msg: str, where: str, kind: str, warning: bool) -> None:
        if kind:
            self._counts[(where, kind, warning)] += 1
            if self._counts[(where, kind, warning)] > MAX_PER_KIND:
                return
        (self.warnings if warning else self.errors).append(msg)

    def finish(self) -> None:
        for (where, kind, warning), n in self._counts.items():
            if n > MAX_PER_KIND:
                (self.warnings if warning else self.errors).append(
                    f"{where}: {n - MAX_PER_KIND} more {kind} problem(s) not shown")


def load_labels(spec: str | os.PathLike | Iterable[str]) -> list[str]:
    """A label set from a list, a comma/space separated string, or a file with one label per line."""
    if isinstance(spec, (str, os.PathLike)):
        if os.path.isfile(spec):
            labels = read_list(spec)
            if not labels:
                raise ValueError(f"{spec}: label file holds no labels")
            return labels
        if isinstance(spec, os.PathLike) or "/" in str(spec):
            raise FileNotFoundError(f"{spec}: no such label file")
        labels = [x for x in re.split(r"[,\s]+", str(spec)) if x]
    else:
        labels = [str(x) for x in spec]
    if not labels:
        raise ValueError("the label set is empty")
    return labels


def _check_keys(rep: _Report, sf: ScannedFile, allow_empty_value: bool = False) -> None:
    """Sorted under C order (first offence only), unique keys, a value on every line."""
    prev: Entry | None = None
    unsorted_reported = False
    for e in sf.entries:
        if (prev is not None and not unsorted_reported
                and c_sort_key(e.key) < c_sort_key(prev.key)):
            rep.error(f"{sf.path}:{e.lineno}: not sorted under LC_ALL=C: '{e.key}' comes after "
                      f"'{prev.key}' (line {prev.lineno}); {FIX_HINT} sorts it")
            unsorted_reported = True
        prev = e
        first = sf.first[e.key]
        if first is not e:
            rep.error(f"{sf.path}:{e.lineno}: duplicate key '{e.key}' (first at line {first.lineno})",
                      sf.path, "duplicate-key")
        if not e.value and not allow_empty_value:
            rep.error(f"{sf.path}:{e.lineno}: key '{e.key}' has no value", sf.path, "missing-value")


def _count_note(n: int, what: str) -> str:
    return f" ({n} {what} in all)" if n > 1 else ""


def _check_same_keys(rep: _Report, ref: ScannedFile, other: ScannedFile, what: str = "utterance") -> None:
    """`other` must hold exactly the keys of `ref`; name the first missing and the first extra key."""
    missing = [e for k, e in ref.first.items() if k not in other.first]
    extra = [e for k, e in other.first.items() if k not in ref.first]
    if missing:
        e = missing[0]
        rep.error(f"{ref.path}:{e.lineno}: {what} '{e.key}' is not in {other.path}"
                  f"{_count_note(len(missing), 'missing from ' + other.name)}; "
                  f"{FIX_HINT} keeps what all files share")
    if extra:
        e = extra[0]
        rep.error(f"{other.path}:{e.lineno}: {what} '{e.key}' is not in {ref.path}"
                  f"{_count_note(len(extra), 'extra in ' + other.name)}; "
                  f"{FIX_HINT} keeps what all files share")


def _check_spk2utt(rep: _Report, utt2spk: ScannedFile, spk2utt: ScannedFile) -> None:
    seen: dict[str, int] = {}
    for e in spk2utt.entries:
        for utt in e.value.split():
            if utt in seen:
                rep.error(f"{spk2utt.path}:{e.lineno}: utterance '{utt}' is listed twice "
                          f"(also at line {seen[utt]})", spk2utt.path, "repeated-utterance")
                continue
            seen[utt] = e.lineno
            ref = utt2spk.first.get(utt)
            if ref is None:
                rep.error(f"{spk2utt.path}:{e.lineno}: utterance '{utt}' (speaker '{e.key}') is not in "
                          f"{utt2spk.path}; {FIX_HINT} regenerates spk2utt", spk2utt.path, "extra-utterance")
            elif ref.value != e.key:
                rep.error(f"{spk2utt.path}:{e.lineno}: utterance '{utt}' is listed under speaker "
                          f"'{e.key}' but {utt2spk.path}:{ref.lineno} gives speaker '{ref.value}'; "
                          f"{FIX_HINT} regenerates spk2utt", spk2utt.path, "speaker-mismatch")
    missing = [e for k, e in utt2spk.first.items() if k not in seen]
    if missing:
        e = missing[0]
        rep.error(f"{utt2spk.path}:{e.lineno}: utterance '{e.key}' (speaker '{e.value}') is not in "
                  f"{spk2utt.path}{_count_note(len(missing), 'missing from spk2utt')}; "
                  f"{FIX_HINT} regenerates spk2utt")


def _check_segments(rep: _Report, seg: ScannedFile, wav: ScannedFile | None) -> None:
    used: set[str] = set()
    for e in seg.entries:
        fields = e.value.split()
        if len(fields) != 3:
            rep.error(f"{seg.path}:{e.lineno}: expected '<utt> <recording> <start> <end>', "
                      f"got {len(fields) + 1} fields", seg.path, "format")
            continue
        reco, start_s, end_s = fields
        used.add(reco)
        try:
            start, end = float(start_s), float(end_s)
        except ValueError:
            rep.error(f"{seg.path}:{e.lineno}: start '{start_s}' or end '{end_s}' is not a number",
                      seg.path, "time")
            continue
        if not (math.isfinite(start) and math.isfinite(end)):
            rep.error(f"{seg.path}:{e.lineno}: start or end is not finite", seg.path, "time")
        elif start < 0:
            rep.error(f"{seg.path}:{e.lineno}: start time {start_s} is negative", seg.path, "time")
        elif end <= start:
            rep.error(f"{seg.path}:{e.lineno}: end time {end_s} is not after start time {start_s}",
                      seg.path, "time")
        if wav is not None and reco not in wav.first:
            rep.error(f"{seg.path}:{e.lineno}: recording '{reco}' is not in {wav.path}",
                      seg.path, "recording")
    if wav is not None:
        unused = [e for k, e in wav.first.items() if k not in used]
        if unused:
            e = unused[0]
            rep.warn(f"{wav.path}:{e.lineno}: recording '{e.key}' is used by no segment"
                     f"{_count_note(len(unused), 'unused')}; {FIX_HINT} drops them")


def _check_wav_values(rep: _Report, wav: ScannedFile, no_pipes: bool = False) -> None:
    for e in wav.entries:
        v = e.value
        if not v:
            continue  # reported as a missing value
        if v.endswith("|") and no_pipes:
            rep.error(f"{wav.path}:{e.lineno}: '{e.key}' is a command ('... |'), which reading the audio "
                      f"would run; --no-pipes allows only file paths", wav.path, "wav")
        elif v.endswith("|"):
            if not v[:-1].strip():
                rep.error(f"{wav.path}:{e.lineno}: empty command before '|'", wav.path, "wav")
        elif ("|" in v or len(v.split()) > 1) and not os.path.isfile(v):
            # The audio reader takes the whole value as one path, spaces and all (a clone under
            # "My Drive" is fine); a missing one is more likely a command that lost its '|'.
            rep.error(f"{wav.path}:{e.lineno}: '{v}' is not an existing file, and a command must end "
                      f"in '|'", wav.path, "wav")
        elif v.startswith("~"):
            rep.error(f"{wav.path}:{e.lineno}: path '{v}' starts with '~', which is not expanded; "
                      f"give the full path", wav.path, "wav")
        elif v == "-":
            rep.error(f"{wav.path}:{e.lineno}: '-' (standard input) cannot be read per utterance",
                      wav.path, "wav")


def _check_empty_text(rep: _Report, text: ScannedFile, allowed: set[str]) -> None:
    for e in text.entries:
        if not e.value and e.key not in allowed:
            rep.error(empty_text_problem(f"{text.path}:{e.lineno}", e.key, text.path.parent), text.path, "empty-text")


def _check_labels(rep: _Report, emo: ScannedFile, labels: list[str]) -> None:
    allowed = set(labels)
    bad: dict[str, list[Entry]] = {}
    for e in emo.entries:
        if e.value and e.value not in allowed:
            bad.setdefault(e.value, []).append(e)
    for label, entries in bad.items():
        rep.error(f"{emo.path}:{entries[0].lineno}: label '{label}' is not in the label set "
                  f"({', '.join(labels)}){_count_note(len(entries), 'lines with it')}",
                  emo.path, "label")


def _check_numeric(rep: _Report, sf: ScannedFile, kind: type) -> None:
    for e in sf.entries:
        try:
            ok = kind(e.value) > 0 and math.isfinite(float(e.value))
        except ValueError:
            ok = False
        if e.value and not ok:
            what = "a positive whole number" if kind is int else "a positive number"
            rep.error(f"{sf.path}:{e.lineno}: '{e.value}' is not {what}", sf.path, "number")


def _check_turns(rep: _Report, turns: ScannedFile, has_dialog: bool) -> None:
    if not has_dialog:
        rep.error(f"{turns.path}: utt2turn without utt2dialog: a turn orders an utterance within its "
                  f"dialogue, so the dialogues must be given too")
    for e in turns.entries:
        try:
            parse_turn(e.value)
        except ValueError:
            if e.value:  # a missing value is reported as such
                rep.error(f"{turns.path}:{e.lineno}: turn '{e.value}' of utterance '{e.key}' is not a number",
                          turns.path, "number")


def _check_speaker_warnings(rep: _Report, utt2spk: ScannedFile) -> None:
    speakers = {e.value for e in utt2spk.first.values()}
    if len(speakers) == 1:
        rep.warn(f"{utt2spk.path}: a single speaker ('{next(iter(speakers))}'); speaker-independent "
                 f"folds and per-speaker statistics are not possible")
    ordered = sorted(utt2spk.first.values(), key=lambda e: c_sort_key(e.key))
    for prev, e in zip(ordered, ordered[1:]):
        if c_sort_key(e.value) < c_sort_key(prev.value):
            rep.warn(f"{utt2spk.path}:{e.lineno}: not also sorted by speaker: speaker '{e.value}' "
                     f"comes after '{prev.value}' (line {prev.lineno}); fine for mer, but Kaldi's "
                     f"tools want speaker-prefixed utterance ids (<spk>-<rest>)")
            break


def check_data_dir(path: str | os.PathLike, labels: str | os.PathLike | Iterable[str] | None = None,
                   no_wav: bool = False, no_text: bool = False, no_pipes: bool = False,
                   allow_empty_text: bool = False) -> ValidationResult:
    """Validate a data dir; return its errors and warnings (see the module docstring)."""
    d = Path(path)
    rep = _Report()
    if not d.is_dir():
        return ValidationResult([f"{d}: not a directory"], [], 0, 0)
    if labels is None and (d / "labels").is_file():
        labels = d / "labels"
    label_list = load_labels(labels) if labels is not None else None

    required = ["utt2spk", "spk2utt", "utt2emo"]
    required += [] if no_wav else ["wav.scp"]
    required += [] if no_text else ["text"]
    hints = {"wav.scp": " (pass --no-wav for a text-only dir)", "text": " (pass --no-text for a dir "
             "without transcripts)", "spk2utt": f" ({FIX_HINT} creates it from utt2spk)"}
    for name in required:
        if not (d / name).is_file():
            rep.error(f"{d / name}: missing{hints.get(name, '')}")

    files: dict[str, ScannedFile] = {}
    for name in data_files(d):
        sf = files[name] = scan_file(d / name)
        for problem in sf.problems:
            rep.error(problem, sf.path, "format")
        for note in sf.notes:
            rep.warn(note)
        _check_keys(rep, sf, allow_empty_value=(name == "text"))

    utt2spk = files.get("utt2spk")
    if utt2spk is None:
        rep.finish()
        return ValidationResult(rep.errors, rep.warnings, 0, 0)
    for e in utt2spk.entries:
        if len(e.value.split()) > 1:
            rep.error(f"{utt2spk.path}:{e.lineno}: speaker id '{e.value}' contains white space",
                      utt2spk.path, "speaker")

    wav, seg = files.get("wav.scp"), files.get("segments")
    for name in per_utt_files(d):
        _check_same_keys(rep, utt2spk, files[name])
    if "spk2utt" in files:
        _check_spk2utt(rep, utt2spk, files["spk2utt"])
    if seg is not None:
        _check_segments(rep, seg, wav)
    if wav is not None:
        _check_wav_values(rep, wav, no_pipes)
        for name in PER_RECO_FILES:
            if name in files:
                _check_same_keys(rep, wav, files[name], what="recording")
    if any(name in files for name in PER_SPK_FILES):
        # The speakers of utt2spk, each at its first line, as a pseudo file to compare keys with.
        speakers = ScannedFile(utt2spk.path)
        for e in utt2spk.entries:
            speakers.first.setdefault(e.value, Entry(e.lineno, e.value, e.key))
        for name in PER_SPK_FILES:
            if name in files:
                _check_same_keys(rep, speakers, files[name], what="speaker")
    if "spk2gender" in files:
        for e in files["spk2gender"].entries:
            if e.value not in ("m", "f"):
                rep.error(f"{files['spk2gender'].path}:{e.lineno}: gender '{e.value}' is not 'm' or 'f'",
                          files["spk2gender"].path, "gender")
    if "text" in files and not allow_empty_text:
        _check_empty_text(rep, files["text"], empty_text_allowed(d))
    if label_list is not None and "utt2emo" in files:
        _check_labels(rep, files["utt2emo"], label_list)
    for name, kind in NUMERIC_FILES.items():
        if name in files:
            _check_numeric(rep, files[name], kind)
    if "utt2turn" in files:
        _check_turns(rep, files["utt2turn"], has_dialog="utt2dialog" in files)
    _check_speaker_warnings(rep, utt2spk)
    rep.finish()
    return ValidationResult(rep.errors, rep.warnings, len(utt2spk.first),
                            len({e.value for e in utt2spk.first.values()}))


def validate_data_dir(path: str | os.PathLike, labels: str | os.PathLike | Iterable[str] | None = None,
                      no_wav: bool = False, no_text: bool = False, allow_empty_text: bool = False) -> list[str]:
    """The errors of `check_data_dir`, each `file:line: problem`; empty for a valid dir."""
    return check_data_dir(path, labels=labels, no_wav=no_wav, no_text=no_text,
                          allow_empty_text=allow_empty_text).errors
