"""Repair a data dir by keeping what all its files agree on (what `utils/fix_data_dir.sh` runs).

`fix_data_dir(DIR)`:
- sorts every keyed file under `LC_ALL=C`, drops empty lines and exact duplicate lines;
- keeps only the utterances of utt2spk that every per-utterance file has (wav.scp when there
  is no segments file, segments, text, utt2emo, feats.scp, utt2<name>), whose lines are well
  formed and not contradicted by a second line with the same key, and whose segment is sound
  (end > start >= 0, recording in wav.scp); a text-only dir (no wav.scp) is fine;
- drops the utterances listed in an exclude file (first column; e.g. the `failed` file that
  feature dumping writes, `utt<TAB>reason`);
- regenerates spk2utt, drops wav.scp recordings (and their reco2dur lines) that no kept segment
  uses, and per-speaker lines of speakers left without utterances;
- copies every file it changes into `DIR/.backup/` first (Kaldi style: the last run's backup).

Nothing is written when no utterance would be left.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mer.data.datadir import (PER_RECO_FILES, PER_SPK_FILES, DataDir, Segment, data_files, extra_utt_files,
                              per_utt_files)
from mer.data.kaldi_io import read_list
from mer.data.validate import ScannedFile, scan_file

BACKUP_DIR = ".backup"


class FixError(RuntimeError):
    """The data dir cannot be fixed (unreadable file, nothing left); nothing was changed."""


@dataclass
class FixSummary:
    path: Path
    total: int  # utterances in utt2spk
    kept: int
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> utterances
    notes: list[str] = field(default_factory=list)  # lines removed besides the dropped utterances
    changed: list[str] = field(default_factory=list)  # files rewritten (or removed)

    @property
    def backup_dir(self) -> Path:
        return self.path / BACKUP_DIR

    def __str__(self) -> str:
        head = f"kept {self.kept} of {self.total} utterances"
        if self.dropped:
            head += "; dropped " + ", ".join(f"{n} {why}" for why, n in self.dropped.items())
        lines = [head]
        lines += self.notes
        if self.changed:
            lines.append(f"changed {', '.join(self.changed)} (old versions in {self.backup_dir})")
        else:
            lines.append("no file changed")
        return "\n".join(lines)


def _table(sf: ScannedFile, allow_empty_value: bool = False) -> tuple[dict[str, str], set[str]]:
    """Values by key, and the keys that cannot be trusted (no value, or two different values)."""
    values: dict[str, str] = {}
    bad: set[str] = set()
    for e in sf.entries:
        if not e.value and not allow_empty_value:
            bad.add(e.key)
        elif e.key in values and values[e.key] != e.value:
            bad.add(e.key)
        else:
            values.setdefault(e.key, e.value)
    return {k: v for k, v in values.items() if k not in bad}, bad


def _parse_segment(value: str) -> Segment | None:
    fields = value.split()
    if len(fields) != 3:
        return None
    try:
        seg = Segment(fields[0], float(fields[1]), float(fields[2]))
    except ValueError:
        return None
    return seg if 0 <= seg.start < seg.end < float("inf") else None


def fix_data_dir(path: str | os.PathLike, exclude: str | os.PathLike | None = None) -> FixSummary:
    """Fix DIR in place (see the module docstring); return what was kept, dropped and changed."""
    d = Path(path)
    if not d.is_dir():
        raise FixError(f"{d}: not a directory")
    names = data_files(d)
    tables: dict[str, dict[str, str]] = {}
    bad: dict[str, set[str]] = {}
    for name in names:
        sf = scan_file(d / name)
        unreadable = [p for p in sf.problems if "not valid UTF-8" in p]
        if unreadable:
            raise FixError(f"{unreadable[0]}; fix the encoding by hand, nothing was changed")
        tables[name], bad[name] = _table(sf, allow_empty_value=(name == "text"))

    if "utt2spk" not in tables:
        if "spk2utt" not in tables:
            raise FixError(f"{d}: no utt2spk, nor a spk2utt to derive it from")
        utt2spk: dict[str, str] = {}
        bad["utt2spk"] = set()
        for spk, utts in tables["spk2utt"].items():
            for utt in utts.split():
                if utt2spk.setdefault(utt, spk) != spk:
                    bad["utt2spk"].add(utt)
        tables["utt2spk"] = {u: s for u, s in utt2spk.items() if u not in bad["utt2spk"]}
    utt2spk = tables["utt2spk"]
    for utt, spk in list(utt2spk.items()):
        if len(spk.split()) > 1:
            bad["utt2spk"].add(utt)
            del utt2spk[utt]

    excluded = set(read_list(exclude)) if exclude is not None else set()
    segments = {u: _parse_segment(v) for u, v in tables.get("segments", {}).items()}
    per_utt = per_utt_files(d)

    reasons: dict[str, str] = {u: "with a bad or contradicting line in utt2spk" for u in bad["utt2spk"]}
    for utt in utt2spk:
        if utt in excluded:
            reasons[utt] = f"listed in {exclude}"
            continue
        for name in per_utt:
            if utt in bad[name]:
                reasons[utt] = f"with a bad or contradicting line in {name}"
            elif utt not in tables[name]:
                reasons[utt] = f"not in {name}"
            elif name == "segments" and segments[utt] is None:
                reasons[utt] = "with a bad segment (fields or times)"
            elif name == "segments" and "wav.scp" in tables and segments[utt].recording not in tables["wav.scp"]:
                reasons[utt] = "whose recording is not in wav.scp"
            else:
                continue
            break
    keep = [u for u in utt2spk if u not in reasons]
    dropped: dict[str, int] = {}
    for why in reasons.values():
        dropped[why] = dropped.get(why, 0) + 1
    total = len(utt2spk) + len(bad["utt2spk"])
    if not keep:
        raise FixError(f"{d}: no utterance would be left (" +
                       ", ".join(f"{n} {why}" for why, n in dropped.items()) + "); nothing was changed")

    full = DataDir(
        utt2spk=utt2spk,
        wav_scp=tables.get("wav.scp", {}),
        segments={u: s for u, s in segments.items() if s is not None},
        text=tables.get("text", {}),
        utt2emo=tables.get("utt2emo", {}),
        extra={n: tables[n] for n in extra_utt_files(d)},
        reco_extra={n: tables[n] for n in PER_RECO_FILES if n in tables},
        spk_extra={n: tables[n] for n in PER_SPK_FILES if n in tables},
    )
    fixed = full.subset(keep)
    summary = FixSummary(d, total=total, kept=len(keep), dropped=dropped)
    known_utts = utt2spk.keys() | bad["utt2spk"]
    for name in per_utt:
        n = len((tables[name].keys() | bad[name]) - known_utts)
        if n:
            summary.notes.append(f"removed {n} line(s) of {name} for utterances not in utt2spk")
    reco_files = {"wav.scp": fixed.wav_scp} if "segments" in tables and "wav.scp" in tables else {}
    for name, kept in {**reco_files, **fixed.reco_extra, **fixed.spk_extra}.items():
        n = len(tables[name]) + len(bad[name]) - len(kept)
        if n:
            of_what = "speakers" if name in PER_SPK_FILES else "recordings"
            summary.notes.append(f"removed {n} line(s) of {name}: {of_what} no kept utterance has, "
                                 f"or bad lines")
    _replace_changed(d, fixed, names, summary)
    return summary


def _replace_changed(d: Path, fixed: DataDir, old_names: list[str], summary: FixSummary) -> None:
    """Write `fixed` beside DIR, then move in each file that differs, backing up the old one."""
    tmp = Path(tempfile.mkdtemp(dir=d, prefix=".fix."))
    try:
        written = fixed.save(tmp)
        for name in written + [n for n in old_names if n not in written]:
            old = d / name
            new = tmp / name
            if new.is_file() and old.is_file() and new.read_bytes() == old.read_bytes():
                continue
            if old.is_file():
                (d / BACKUP_DIR).mkdir(exist_ok=True)
                shutil.copy2(old, d / BACKUP_DIR / name)
            if new.is_file():
                os.replace(new, old)
            else:
                old.unlink()
            summary.changed.append(name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

