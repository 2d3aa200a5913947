"""IEMOCAP (USC): the 4-class set from the corpus as distributed.

Reads `Session{1..5}/dialog/EmoEvaluation/*.txt` (labels; the per-annotator subfolders are not
read), `Session{n}/dialog/transcriptions/<dialog>.txt` and `Session{n}/sentences/wav/<dialog>/<turn>.wav`.
`corpus_dir` is `IEMOCAP_full_release/` or the folder that holds it.

Classes (LABELS, in MemoCMT's published index order): ang, hap (hap and exc merged), sad, neu;
every other label (fru, sur, fea, dis, oth, xxx) is excluded with its reason. 5,531 utterances on
the full corpus (4,490 with --no-merge-exc).

Ids:
  speaker    `Ses02_F`: session + the letter of the turn's LAST segment (`..._F014`), which is who
             speaks; the letter after `SesNN` in the dialog name is not the speaker.
  utterance  `<speaker>-<turn>`, e.g. `Ses02_F-Ses02M_impro05a_F014`: speaker-prefixed so utt2spk
             sorts by speaker; the corpus turn name is `utt.split("-", 1)[1]`.
Files: utt2session (`Ses02`), utt2gender (`f`/`m`), utt2dialog (`Ses02M_impro05a`), utt2turn (the
turn's start in seconds within the dialog, from its EmoEvaluation line `[START - END]`, so both
speakers' turns interleave in time order); no utt2split (IEMOCAP has no official split: the
protocols are `loso` (default), `random`, `si`, `sd`, below). Transcripts are kept as distributed,
bracketed tags included (models clean them with mer.data.text.clean_transcript); a labelled turn
without a transcript line is kept with empty text and listed in `text_missing`. Transcript lines
whose id is not a turn id (`Ses03F_impro06_FXX0`: no wav, no label) are skipped and listed in
`warnings`. A labelled turn without its wav is excluded.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from mer.data.corpora.common import (CorpusError, PrepReport, decode_sniffed, resolve_corpus_dir,
                                     wav_entry, write_prepared)
from mer.data.corpora.fakes.iemocap import write_fake  # noqa: F401  (the interface: a fake copy for tests)
from mer.data.corpora.registry import CorpusInfo
from mer.data.datadir import DataDir, format_seconds
from mer.data.protocols import Fold, Protocol, ProtocolError, by_value, leave_groups_out, random_split, speaker_column

LABELS = ("ang", "hap", "sad", "neu")

# Turn id: Ses{SS}{dialog letter}_{impro|script}{NN}[a|b][_{K}[a|b]]_{speaker letter}{NNN}
TURN_RE = re.compile(
    r"^(?P<session>Ses0[1-5])[MF]_(?:impro|script)\d{2}[ab]?(?:_\d[ab]?)?_(?P<spk>[MF])\d{3}$")
# Summary line of a label block: [start - end] <tab> turn <tab> label <tab> [v, a, d]
SUMMARY_RE = re.compile(
    r"^\[\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)\s*\]\s+(\S+)\s+(\S+)\s+\[[^\]]*\]\s*$")
# Transcript line: turn [start-end]: text   (the time part is optional here; some lines lack it)
TRANSCRIPT_RE = re.compile(r"^(\S+?)\s*(?:\[[^\]]*\])?\s*:(.*)$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-merge-exc", dest="merge_exc", action="store_false",
                        help="exclude 'exc' (excited) instead of merging it into hap")


def find_root(corpus_dir: Path) -> Path:
    """The folder that holds Session1..Session5 (`corpus_dir` or its IEMOCAP_full_release/)."""
    for cand in (corpus_dir, corpus_dir / "IEMOCAP_full_release"):
        if any((cand / f"Session{n}").is_dir() for n in range(1, 6)):
            return cand
    raise CorpusError(f"{corpus_dir}: no Session1..Session5 folders here or in "
                      f"IEMOCAP_full_release/; is this the IEMOCAP release?")


def speaker_of(turn: str) -> str:
    m = TURN_RE.match(turn)
    if not m:
        raise ValueError(f"not an IEMOCAP turn id: {turn}")
    return f"{m['session']}_{m['spk']}"


def utt_id(turn: str) -> str:
    return f"{speaker_of(turn)}-{turn}"


def dialog_of(turn: str) -> str:
    return turn.rsplit("_", 1)[0]


def _lines(path: Path) -> list[str]:
    # splitlines() drops \n, \r\n and a lone \r alike (CRLF copies exist).
    return decode_sniffed(path.read_bytes())[0].splitlines()


def read_label_file(path: Path, report: PrepReport) -> list[tuple[str, str, float]]:
    """(turn, label code, start in seconds) for every block summary line of an EmoEvaluation file."""
    out = []
    for lineno, line in enumerate(_lines(path), 1):
        if not line.startswith("["):
            continue  # header (%), annotator lines (C-E1:, A-F2:), blank separators
        m = SUMMARY_RE.match(line)
        if not m:
            report.warn(report.where(path, lineno), f"label line not understood, skipped: {line.strip()!r}")
            continue
        turn, label = m[3], m[4]
        if not TURN_RE.match(turn):
            report.warn(report.where(path, lineno), f"'{turn}' is not a turn id; label line skipped")
            continue
        out.append((turn, label, float(m[1])))
    return out


def read_transcripts(path: Path, report: PrepReport) -> dict[str, str]:
    """turn -> transcript (white space collapsed, tags kept) for the turn lines of a file."""
    out: dict[str, str] = {}
    for lineno, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        m = TRANSCRIPT_RE.match(line.strip())
        if not m:
            report.warn(report.where(path, lineno),
                        f"transcript line not understood, skipped: {line.strip()!r}")
            continue
        turn, text = m[1], " ".join(m[2].split())
        if not TURN_RE.match(turn):
            # e.g. Ses03F_impro06_FXX0: a turn with no wav and no label
            report.warn(report.where(path, lineno), f"'{turn}' is not a turn id (no wav, no label); skipped")
            continue
        if turn in out:
            report.warn(report.where(path, lineno), f"second transcript of {turn}; the first is kept")
            continue
        out[turn] = text
    return out


def prepare(corpus_dir: Path, out_dir: Path, merge_exc: bool = True) -> DataDir:
    root = find_root(resolve_corpus_dir(corpus_dir, "IEMOCAP"))
    report = PrepReport(root)
    label_map = {"ang": "ang", "hap": "hap", "sad": "sad", "neu": "neu"}
    if merge_exc:
        label_map["exc"] = "hap"
    dd = DataDir()
    seen: dict[str, str] = {}
    for n in range(1, 6):
        session_dir = root / f"Session{n}"
        if not session_dir.is_dir():
            report.warn(report.where(session_dir), "session folder missing")
            continue
        # A glob for *.txt directly in EmoEvaluation/: the Categorical/, Attribute/ and
        # Self-evaluation/ subfolders hold per-annotator files that must not be read as labels.
        label_files = sorted(p for p in (session_dir / "dialog" / "EmoEvaluation").glob("*.txt")
                             if p.is_file() and not p.name.startswith("."))
        if not label_files:
            report.warn(report.where(session_dir / "dialog" / "EmoEvaluation"), "no label files")
        for label_file in label_files:
            dialog = label_file.stem
            trans_file = session_dir / "dialog" / "transcriptions" / f"{dialog}.txt"
            transcripts = read_transcripts(trans_file, report) if trans_file.is_file() else None
            blocks = read_label_file(label_file, report)
            for turn in sorted(set(transcripts or ()) - {t for t, _, _ in blocks}):
                report.warn(report.where(trans_file), f"{turn} has a transcript but no label block")
            for turn, code, start in blocks:
                where = report.where(label_file)
                if turn in seen:
                    report.warn(where, f"second label block for {turn} (first in {seen[turn]}); skipped")
                    continue
                seen[turn] = where
                if dialog_of(turn) != dialog:
                    report.warn(where, f"turn {turn} does not belong to dialog {dialog}; kept")
                if int(turn[3:5]) != n:
                    report.warn(where, f"turn {turn} found in Session{n}; kept")
                utt, spk = utt_id(turn), speaker_of(turn)
                label = label_map.get(code)
                if label is None:
                    report.exclude(utt, f"label '{code}' not in {'/'.join(LABELS)}"
                                        + ("" if merge_exc or code != "exc" else " (--no-merge-exc)"))
                    continue
                wav = session_dir / "sentences" / "wav" / dialog_of(turn) / f"{turn}.wav"
                if not wav.is_file():
                    report.exclude(utt, f"labelled '{code}' but no wav at {report.where(wav)}")
                    continue
                if transcripts is None:
                    text = ""
                    report.missing_text(utt, f"no transcript file {report.where(trans_file)}")
                elif turn not in transcripts:
                    text = ""
                    report.missing_text(utt, f"no line for {turn} in {report.where(trans_file)}")
                else:
                    text = transcripts[turn]
                dd.add(utt, spk, wav=wav_entry(wav, report), text=text, emo=label, gender=spk[-1].lower(),
                       session=turn[:5], dialog=dialog_of(turn), turn=format_seconds(start))
    if not seen:
        raise CorpusError(f"{root}: no label blocks found in Session*/dialog/EmoEvaluation/*.txt")
    write_prepared(dd, out_dir, LABELS, report)
    return dd



# ------------------------------------------------------------------ protocols
def session_loso(dd: DataDir, seed: int = 0) -> list[Fold]:
    sessions = by_value(speaker_column(dd, "utt2session"))  # session -> its speakers (F, M)
    names = list(sessions)
    folds = []
    for k, session in enumerate(names, 1):
        following = sessions[names[k % len(names)]]
        # Alternate which speaker of the next session validates: F in fold 1, M in fold 2, ...
        folds.append((sessions[session], [following[(k - 1) % len(following)]]))
    return leave_groups_out(dd.utt2spk, folds)


def speaker_independent_holdout(dd: DataDir, seed: int = 0) -> list[Fold]:
    sessions = by_value(speaker_column(dd, "utt2session"))
    gender = speaker_column(dd, "utt2gender")
    last = list(sessions)[-1]
    valid = [s for s in sessions[last] if gender[s] == "m"]
    test = [s for s in sessions[last] if gender[s] == "f"]
    if not valid or not test:
        raise ProtocolError(f"si needs a male and a female speaker in {last}; found {sessions[last]}")
    return leave_groups_out(dd.utt2spk, [(test, valid)])


def memocmt_random(dd: DataDir, seed: int = 0) -> list[Fold]:
    return [random_split(dd.utt2spk, 0.1, 0.1, seed)]


def random_80_10_10(dd: DataDir, seed: int = 0) -> list[Fold]:
    return [random_split(dd.utt2spk, 0.1, 1 / 9, seed)]


CORPUS = CorpusInfo(
    name="iemocap", labels=LABELS, db_variable="IEMOCAP",
    description="IEMOCAP_full_release (licensed: request it from USC SAIL, sail.usc.edu/iemocap)",
    protocols=[
        Protocol("loso", session_loso,
                 "Leave one session out, 5 folds: test = session k (both speakers); valid = one "
                 "speaker of session k+1 (cyclic; female in odd folds, male in even folds); "
                 "train = the other 7 speakers.", True, True,
                 caveat="Scripted dialogs share their script across sessions, so some test "
                        "sentences also occur in training."),
        Protocol("random", memocmt_random,
                 "MemoCMT's published split: seeded shuffle of all utterances, 10% test "
                 "(rounded up), then 10% of the rest valid (rounded up), the rest train "
                 "(~81/9/10). Same proportions and seed as the published code, not the same "
                 "utterances (its order came from the file system).", False, False, seeded=True,
                 caveat="SPEAKER-DEPENDENT: every speaker (and dialog) is in train, valid and "
                        "test; results are not comparable with leave-one-session-out."),
        Protocol("si", speaker_independent_holdout,
                 "Speaker-independent hold-out: sessions 1-4 train; session 5 male speaker = "
                 "valid, female speaker = test.", True, False),
        Protocol("sd", random_80_10_10,
                 "Speaker-dependent random 80/10/10 split of all utterances (seeded).",
                 False, False, seeded=True,
                 caveat="SPEAKER-DEPENDENT: every speaker is in train, valid and test."),
    ],
    default_protocol="loso")
