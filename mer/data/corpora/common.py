"""Shared pieces of corpus preparation: the report of what was left out, the output writer,
corpus-dir checks and encoding sniffing.

Report files written beside the data dir (all UTF-8, tab-separated, one item per line):
  excluded      <id>\t<reason>         utterances of the corpus that are not in the data dir
                                       (id = the utterance id it would have had), C-sorted;
                                       always written, empty when nothing was left out
  text_missing  <utt>\t<reason>        utterances kept with an empty transcript, C-sorted
  warnings      <file>[:<line>]\t<problem>
                                       lines or files that were skipped or repaired, in the
                                       order they were met; paths relative to the corpus dir
"""
from __future__ import annotations

import codecs
import logging
import os
import shlex
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from mer.data.datadir import OPTIONAL_UTT_FILES, DataDir
from mer.data.kaldi_io import c_sort_key
from mer.utils.fileio import atomic_open

log = logging.getLogger("mer.data.corpora")

# Every file a preparation may write; the ones not written this time are removed, so a rerun
# with other options never leaves a stale file behind (e.g. utt2split from an earlier layout).
PREPARED_FILES = ("wav.scp", "segments", "text", "utt2spk", "spk2utt", "utt2emo",
                  *OPTIONAL_UTT_FILES, "labels", "excluded", "text_missing", "warnings")

MAX_LOGGED_WARNINGS = 20


class CorpusError(RuntimeError):
    """The corpus dir is unusable (missing, wrong layout): preparation cannot go on."""


def _one_line(s: str) -> str:
    return " ".join(str(s).split())


class PrepReport:
    """What a preparation left out, kept without a transcript, or skipped on the way."""

    def __init__(self, root: Path | None = None):
        self.root = root
        self.excluded: dict[str, str] = {}
        self.text_missing: dict[str, str] = {}
        self.warnings: list[tuple[str, str]] = []
        self._once: set[str] = set()

    def where(self, path: str | os.PathLike, lineno: int | None = None) -> str:
        """`path` relative to the corpus root (when under it), with `:lineno` when given."""
        p = Path(path)
        if self.root is not None:
            try:
                p = p.relative_to(self.root)
            except ValueError:
                pass
        return f"{p}:{lineno}" if lineno is not None else str(p)

    def exclude(self, utt: str, reason: str) -> None:
        # An item can fail twice (no label and no wav): keep every reason.
        reason = _one_line(reason)
        if utt in self.excluded and reason not in self.excluded[utt]:
            self.excluded[utt] += "; " + reason
        else:
            self.excluded.setdefault(utt, reason)

    def missing_text(self, utt: str, reason: str) -> None:
        self.text_missing[utt] = _one_line(reason)

    def warn_once(self, kind: str, where: str, problem: str) -> None:
        """A warning given only for the first item of its `kind` (one note for 17,500 files)."""
        if kind not in self._once:
            self._once.add(kind)
            self.warn(where, problem)

    def warn(self, where: str, problem: str) -> None:
        self.warnings.append((_one_line(where), _one_line(problem)))
        n = len(self.warnings)
        if n <= MAX_LOGGED_WARNINGS:
            log.warning("%s: %s", where, problem)
        elif n == MAX_LOGGED_WARNINGS + 1:
            log.warning("more warnings follow; all are listed in the 'warnings' file of the data dir")


def resolve_corpus_dir(corpus_dir: str | os.PathLike | None, variable: str = "the corpus variable") -> Path:
    """The corpus dir as an absolute path; CorpusError when it is unset or does not exist.

    `variable` names where the path came from (e.g. IEMOCAP in db.sh) for the message.
    """
    if corpus_dir is None or str(corpus_dir).strip() == "":
        raise CorpusError(f"corpus dir is not set: set {variable} in db.sh (or the environment) "
                          f"or pass --corpus-dir")
    p = Path(corpus_dir).expanduser()
    if not p.exists():
        raise CorpusError(f"corpus dir {p} does not exist (from {variable})")
    if not p.is_dir():
        raise CorpusError(f"corpus dir {p} is not a directory (from {variable})")
    # abspath, not resolve(): keep a symlinked corpus location as the user named it
    return Path(os.path.abspath(p))


def wav_entry(path: str | os.PathLike, report: PrepReport | None = None) -> str:
    """The wav.scp value for an audio file: its path, or `cat '<path>' |` when the path has
    white space (wav.scp values are split on it; ESD unpacks to "Emotion Speech Dataset/")."""
    p = str(path)
    if not any(c.isspace() for c in p):
        return p
    if report is not None:
        report.warn_once("spaces", p, "path contains white space: wav.scp reads such files "
                                      "through `cat '<path>' |` (rename or symlink the corpus "
                                      "folder to avoid the pipes)")
    return f"cat {shlex.quote(p)} |"


def decode_sniffed(data: bytes) -> tuple[str, str]:
    """Decode bytes whose encoding is unknown; returns (text, encoding name).

    A byte-order mark decides (UTF-16 LE/BE, UTF-8 with BOM); else UTF-16 without BOM when
    every other byte of the start is NUL; else UTF-8 if it decodes; else cp1252, and latin-1
    when a byte cp1252 leaves undefined occurs (latin-1 decodes anything).
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return data.decode("utf-16"), "utf-16"
    # Before UTF-8: ASCII text in UTF-16 is valid UTF-8 too (NUL is a valid character).
    head = data[:200]
    if len(head) >= 4 and head[1::2].count(0) > 0.9 * len(head[1::2]):
        return data.decode("utf-16-le", errors="replace"), "utf-16-le"
    if len(head) >= 4 and head[0::2].count(0) > 0.9 * len(head[0::2]):
        return data.decode("utf-16-be", errors="replace"), "utf-16-be"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _write_tsv(path: Path, rows: Iterable[tuple[str, str]]) -> None:
    with atomic_open(path) as f:
        for key, value in rows:
            f.write(f"{key}\t{value}\n")


def write_prepared(dd: DataDir, out_dir: str | os.PathLike, labels: Sequence[str],
                   report: PrepReport) -> None:
    """Write the data dir, `labels` and the report files to `out_dir`; remove stale files.

    Checks the invariants every corpus module must keep (a bug, not a corpus problem, if they fail):
    every utterance has a label from `labels`, and every per-utterance file covers every utterance.
    """
    if not len(dd):
        raise CorpusError(f"no utterance left to write to {out_dir}; "
                          f"{len(report.excluded)} excluded, {len(report.warnings)} warnings")
    utts = set(dd.utt2spk)
    bad = {e for e in dd.utt2emo.values() if e not in labels}
    if bad:
        raise ValueError(f"labels {sorted(bad)} are not in the label set {list(labels)}")
    for name, mapping in [("utt2emo", dd.utt2emo), ("text", dd.text), *dd.extra.items()]:
        if mapping and set(mapping) != utts:
            raise ValueError(f"{name} covers {len(mapping)} of {len(utts)} utterances")
    if not dd.segments and dd.wav_scp and set(dd.wav_scp) != utts:
        raise ValueError(f"wav.scp covers {len(dd.wav_scp)} of {len(utts)} utterances")
    kept_but_excluded = utts & report.excluded.keys()
    if kept_but_excluded:
        raise ValueError(f"utterances both kept and excluded: {sorted(kept_but_excluded)[:3]}")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = set(dd.save(out))
    with atomic_open(out / "labels") as f:
        f.writelines(f"{lab}\n" for lab in labels)
    _write_tsv(out / "excluded", sorted(report.excluded.items(), key=lambda kv: c_sort_key(kv[0])))
    written |= {"labels", "excluded"}
    if report.text_missing:
        _write_tsv(out / "text_missing",
                   sorted(report.text_missing.items(), key=lambda kv: c_sort_key(kv[0])))
        written.add("text_missing")
    if report.warnings:
        _write_tsv(out / "warnings", report.warnings)
        written.add("warnings")
    for name in PREPARED_FILES:
        if name not in written and (out / name).is_file():
            (out / name).unlink()


def _count_lines(path: Path) -> int:
    if not path.is_file():
        return 0
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def summary(corpus: str, out_dir: str | os.PathLike) -> str:
    """One line about a prepared data dir: utterances, speakers, count per label (in label
    order), excluded, text missing, warnings. Read back from the files, so it says what is there."""
    out = Path(out_dir)
    dd = DataDir.load(out)
    labels = (out / "labels").read_text(encoding="utf-8").split()
    counts = Counter(dd.utt2emo.values())
    per_label = ", ".join(f"{lab} {counts.get(lab, 0)}" for lab in labels)
    line = (f"{corpus}: {len(dd)} utterances, {len(dd.speakers)} speakers ({per_label}); "
            f"excluded {_count_lines(out / 'excluded')}")
    if (out / "text_missing").is_file():
        line += f", text missing {_count_lines(out / 'text_missing')}"
    return line + f", warnings {_count_lines(out / 'warnings')} -> {out}"


# ------------------------------------------------------------------ locating files in a corpus tree

def walk_corpus(root: Path):
    """os.walk following symlinked folders once each, skipping `__MACOSX` and hidden folders."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if d != "__MACOSX" and not d.startswith("."))
        yield Path(dirpath), dirnames, filenames


def pick_nearest(root: Path, what: str, candidates: list[Path], report: PrepReport) -> Path | None:
    """The candidate nearest to root (fewest path parts); a tie at that depth is a CorpusError."""
    if not candidates:
        return None
    depth = lambda p: len(p.relative_to(root).parts)  # noqa: E731
    candidates = sorted(candidates, key=lambda p: (depth(p), str(p)))
    same = [p for p in candidates if depth(p) == depth(candidates[0])]
    if len(same) > 1:
        raise CorpusError(f"{root}: {len(same)} copies of {what} at the same depth, cannot choose: "
                          + ", ".join(map(str, same)) + " (point the corpus dir at one of them)")
    for p in candidates[1:]:
        report.warn(report.where(p), f"another copy of {what}, not used (using {report.where(candidates[0])})")
    return candidates[0]


def write_lines(path: Path, lines: list[str]) -> None:
    with atomic_open(path) as f:
        f.writelines(line + "\n" for line in lines)
