"""ESD (Emotional Speech Dataset, NUS/SUTD): the English speakers 0011-0020, 5 classes.

`corpus_dir` is the extracted `Emotion Speech Dataset/` (or a renamed `ESD/`), or the folder
holding it. Both layouts are read, even mixed:
  split folders  0011/Angry/{train,evaluation,test}/0011_000351.wav   (original release)
  flat           0011/Angry/0011_000351.wav                            (some mirrors)
The label is the emotion folder; the split is the split folder when there is one (evaluation ->
valid), else the id rule of the release: position 1-20 of each 350-utterance emotion block ->
valid, 21-50 -> test, 51-350 -> train.

Ids: the corpus's own `0011_000351` (speaker `0011` is its prefix, so utt2spk sorts by speaker).
Files: utt2gender (`m`/`f`, from the ReadMe table; the published table is the fallback when
ReadMe.txt is missing or silent about a speaker), utt2split (train/valid/test).

Transcripts `<spk>/<spk>.txt` (`id<TAB>text<TAB>Emotion`) come in several encodings (utf-8,
utf-16 with BOM, latin-1): the encoding is sniffed per file. Text is NFC-normalised with white
space collapsed. Lines that are not exactly 3 fields are repaired where the id and text can be
told apart (extra tabs inside the text, emotion after a space) and listed in `warnings`; lines
without an id are skipped and listed. An utterance whose audio exists but whose text cannot be
recovered is kept with empty text and listed in `text_missing` (the audio is good; text models
can drop it with the list). Ids in a transcript without a wav are listed in `excluded`.

Protocols: `lo2so` (default; leave a male and a female speaker out, 5 folds), `official`, and
`published` (MemoCMT's published code's random split, reproduced step by step: see published_split).
"""
from __future__ import annotations

import argparse
import math
import random
import re
import unicodedata
from pathlib import Path

import numpy as np

from mer.data.corpora.common import (CorpusError, PrepReport, decode_sniffed, resolve_corpus_dir,
                                     wav_entry, write_prepared)
from mer.data.corpora.fakes.esd import write_fake  # noqa: F401  (the interface: a fake copy for tests)
from mer.data.corpora.registry import CorpusInfo
from mer.data.datadir import DataDir
from mer.data.kaldi_io import c_sort_key
from mer.data.protocols import (TEXT_REPEATS, Fold, Protocol, ProtocolError, by_value, leave_groups_out,
                                official_protocol, speaker_column)

# Label order = the order of the emotion blocks in the ids (Neutral 000001-000350, Angry, ...).
LABELS = ("neutral", "angry", "happy", "sad", "surprise")
FOLDER_NAMES = {"neutral": "neutral", "angry": "angry", "happy": "happy", "sad": "sad",
                "surprise": "surprise"}
SPLIT_FOLDERS = {"train": "train", "evaluation": "valid", "test": "test"}
ENGLISH_SPEAKERS = tuple(f"{i:04d}" for i in range(11, 21))
# The ReadMe's table for the English speakers, used when the ReadMe cannot be read.
PUBLISHED_GENDER = {"0011": "m", "0012": "m", "0013": "m", "0014": "m", "0015": "f",
                    "0016": "f", "0017": "f", "0018": "f", "0019": "f", "0020": "m"}
ID_RE = re.compile(r"^(\d{4})_(\d{6})$")
BLOCK = 350
README_RE = re.compile(r"^\s*(\d{4})\b.*?\b(female|male)\b", re.IGNORECASE)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass  # no options: English speakers, 5 classes, both layouts are always handled


def split_from_id(number: int) -> str:
    """The release's split of utterance number `number` (1-based, as in `0011_000351`)."""
    pos = (number - 1) % BLOCK + 1
    return "valid" if pos <= 20 else "test" if pos <= 50 else "train"


def label_from_id(number: int) -> str | None:
    block = (number - 1) // BLOCK
    return LABELS[block] if 0 <= block < len(LABELS) else None


def find_root(corpus_dir: Path) -> Path:
    """The folder holding the speaker folders 0011..0020 (`corpus_dir` or one level below)."""
    def has_english(d: Path) -> bool:
        return any((d / spk).is_dir() for spk in ENGLISH_SPEAKERS)

    if has_english(corpus_dir):
        return corpus_dir
    subs = sorted(d for d in corpus_dir.iterdir() if d.is_dir() and has_english(d))
    if len(subs) == 1:
        return subs[0]
    if len(subs) > 1:
        names = ", ".join(d.name for d in subs)
        raise CorpusError(f"{corpus_dir}: several folders hold ESD speakers ({names}); pass the one to use")
    raise CorpusError(f"{corpus_dir}: no English ESD speaker folders (0011..0020) here or one level down")


def read_genders(root: Path, report: PrepReport) -> dict[str, str]:
    """speaker -> m/f from ReadMe.txt (`0011: English Male`), completed from the published table."""
    readmes = sorted(p for p in root.iterdir() if p.is_file() and p.name.lower().startswith("readme"))
    found: dict[str, str] = {}
    if readmes:
        for line in decode_sniffed(readmes[0].read_bytes())[0].splitlines():
            m = README_RE.match(line)
            if m:
                found[m[1]] = m[2].lower()[0]
    else:
        report.warn(report.where(root), "no ReadMe.txt; genders from the published table")
    genders = {}
    for spk in ENGLISH_SPEAKERS:
        if spk in found:
            genders[spk] = found[spk]
            if found[spk] != PUBLISHED_GENDER[spk]:
                report.warn(report.where(readmes[0]),
                            f"speaker {spk} is '{found[spk]}' here but '{PUBLISHED_GENDER[spk]}' "
                            f"in the published table; ReadMe kept")
        else:
            genders[spk] = PUBLISHED_GENDER[spk]
            if readmes:
                report.warn(report.where(readmes[0]), f"no gender for {spk}; published table used")
    return genders


def _is_emotion_column(word: str) -> bool:
    # The column is capitalised (Angry); a lower-case "sad" may end a sentence.
    return word[:1].isupper() and word.lower() in FOLDER_NAMES


def read_transcript(path: Path, spk: str, report: PrepReport) -> dict[str, tuple[str, str | None]]:
    """id -> (text, emotion column or None) from one speaker's transcript; never raises on a bad line."""
    text_all, encoding = decode_sniffed(path.read_bytes())
    out: dict[str, tuple[str, str | None]] = {}
    for lineno, raw in enumerate(text_all.splitlines(), 1):
        where = report.where(path, lineno)
        line = unicodedata.normalize("NFC", raw).strip()
        if not line:
            continue  # blank lines occur; nothing lost
        fields = [f.strip() for f in line.split("\t")]
        problems = []
        if not ID_RE.match(fields[0]):
            head = line.split(maxsplit=1)
            if ID_RE.match(head[0]):
                # id separated from the text by spaces instead of a tab
                fields = [head[0]] + [f.strip() for f in (head[1] if len(head) > 1 else "").split("\t")]
                problems.append("id not followed by a tab")
            else:
                report.warn(where, f"no utterance id at the start ({encoding}); line skipped: {line[:60]!r}")
                continue
        utt = fields[0]
        if not utt.startswith(spk + "_"):
            report.warn(where, f"{utt} is not an utterance of speaker {spk}; line skipped")
            continue
        rest = [f for f in fields[1:] if f]
        emotion = None
        if rest and (_is_emotion_column(rest[-1])
                     or (len(fields) == 3 and rest[-1].lower() in FOLDER_NAMES)):
            emotion = rest.pop()
        elif rest and len(rest[-1].split()) > 1 and _is_emotion_column(rest[-1].split()[-1]):
            # "text Angry": the emotion column glued to the text with a space
            words = rest.pop().split()
            emotion = words.pop()
            rest.append(" ".join(words))
            problems.append("emotion separated by a space")
        if len(fields) != 3:
            problems.insert(0, f"{len(fields)} tab-separated fields, expected 3")
        text = " ".join(" ".join(rest).split())
        if problems:
            report.warn(where, f"{'; '.join(problems)}; read as text {text!r}, emotion {emotion}")
        if utt in out:
            report.warn(where, f"second line for {utt}; the first is kept")
            continue
        out[utt] = (text, emotion.lower() if emotion else None)
    return out


def _transcript_file(spk_dir: Path) -> Path | None:
    own = spk_dir / f"{spk_dir.name}.txt"
    if own.is_file():
        return own
    txts = [p for p in spk_dir.glob("*.txt") if not p.name.startswith(".")]
    return txts[0] if len(txts) == 1 else None


def prepare(corpus_dir: Path, out_dir: Path) -> DataDir:
    root = find_root(resolve_corpus_dir(corpus_dir, "ESD"))
    report = PrepReport(root)
    genders = read_genders(root, report)
    dd = DataDir()
    for spk in ENGLISH_SPEAKERS:
        spk_dir = root / spk
        if not spk_dir.is_dir():
            report.warn(report.where(spk_dir), "speaker folder missing")
            continue
        trans_path = _transcript_file(spk_dir)
        if trans_path is None:
            report.warn(report.where(spk_dir), f"no transcript {spk}.txt; texts of {spk} missing")
            transcript = {}
        else:
            transcript = read_transcript(trans_path, spk, report)
        wavs: dict[str, tuple[Path, str, str]] = {}  # utt -> (path, label, split)
        for emo_dir in sorted(d for d in spk_dir.iterdir() if d.is_dir()):
            label = FOLDER_NAMES.get(emo_dir.name.lower())
            if label is None:
                report.warn(report.where(emo_dir), "not an emotion folder; ignored")
                continue
            for wav in sorted(emo_dir.rglob("*.wav")):
                if wav.name.startswith("."):  # macOS AppleDouble files (._0011_000001.wav)
                    report.warn(report.where(wav), "hidden file; ignored")
                    continue
                m = ID_RE.match(wav.stem)
                if not m or m[1] != spk:
                    report.warn(report.where(wav), f"not an utterance name of speaker {spk}; ignored")
                    continue
                utt, number = wav.stem, int(m[2])
                if utt in wavs:
                    report.warn(report.where(wav), f"second copy of {utt} (first: "
                                                   f"{report.where(wavs[utt][0])}); ignored")
                    continue
                sub = [SPLIT_FOLDERS[p.lower()] for p in wav.relative_to(emo_dir).parts[:-1]
                       if p.lower() in SPLIT_FOLDERS]
                split = sub[-1] if sub else split_from_id(number)
                if sub and split != split_from_id(number):
                    report.warn(report.where(wav), f"split folder says {split}, the id rule "
                                                   f"{split_from_id(number)}; folder kept")
                if label_from_id(number) != label:
                    report.warn(report.where(wav), f"in the {label} folder but the id block is "
                                                   f"{label_from_id(number)}; folder kept")
                wavs[utt] = (wav, label, split)
        for utt in sorted(transcript.keys() - wavs.keys()):
            report.exclude(utt, f"listed in {report.where(trans_path)} but no wav found")
        for utt, (wav, label, split) in sorted(wavs.items()):
            if utt in transcript:
                text, column = transcript[utt]
                if column is not None and column != label:
                    report.warn(report.where(trans_path), f"{utt}: emotion column '{column}' but "
                                                          f"folder '{label}'; folder kept")
                if not text:
                    report.missing_text(utt, f"empty text in {report.where(trans_path)}")
            else:
                text = ""
                report.missing_text(utt, "no transcript line" if trans_path is None
                                    else f"no line in {report.where(trans_path)}")
            dd.add(utt, spk, wav=wav_entry(wav, report), text=text, emo=label, gender=genders[spk],
                   split=split)
    if not len(dd):
        raise CorpusError(f"{root}: no wav files of the English speakers under <spk>/<Emotion>/")
    write_prepared(dd, out_dir, LABELS, report)
    return dd



# ------------------------------------------------------------------ protocols
def lo2so(dd: DataDir, seed: int = 0) -> list[Fold]:
    by_gender = by_value(speaker_column(dd, "utt2gender"))
    males, females = by_gender.get("m", []), by_gender.get("f", [])
    if not males or len(males) != len(females):
        raise ProtocolError(f"lo2so pairs one male with one female speaker; found {len(males)} male "
                            f"({' '.join(males)}) and {len(females)} female ({' '.join(females)})")
    pairs = list(zip(males, females))
    folds = []
    for k, pair in enumerate(pairs, 1):
        nxt = pairs[k % len(pairs)]
        folds.append((pair, [nxt[1] if k % 2 else nxt[0]]))
    return leave_groups_out(dd.utt2spk, folds)


# MemoCMT's published preprocessing keeps these four (its label map has no Surprise).
PUBLISHED_CLASSES = ("neutral", "angry", "happy", "sad")


def _sklearn_split(items: list[str], test_size: float, seed: int) -> tuple[list[str], list[str]]:
    """(rest, test) as sklearn's train_test_split(items, test_size=..., random_state=seed) returns
    them, without stratification: a permutation from numpy's RandomState(seed), the first
    ceil(test_size * n) of it test, the others the rest, both in permutation order."""
    perm = np.random.RandomState(seed).permutation(len(items))
    n_test = math.ceil(test_size * len(items))
    return [items[i] for i in perm[n_test:]], [items[i] for i in perm[:n_test]]


def published_split(dd: DataDir, seed: int = 0) -> list[Fold]:
    """MemoCMT's published ESD split. The code lists every speaker's transcript lines (speaker by
    speaker, lines in file order = id order), keeps Angry/Happy/Neutral/Sad (Surprise and the
    Mandarin speakers' lines, whose emotion column is in Chinese, fall out), shuffles the list with
    random.Random(seed), takes 20 % test with train_test_split(test_size=0.2, random_state=seed),
    then 10 % of the rest valid with train_test_split(test_size=0.1, random_state=seed): not
    stratified, not per speaker, about 72/8/20. Seed 0 as published. Speakers are taken in id order;
    the code took glob's order, which is the file system's, so a copy listed in another order
    splits differently there. Surprise utterances are in no part."""
    ordered = [u for u in sorted(dd.utt2emo, key=c_sort_key) if dd.utt2emo[u] in PUBLISHED_CLASSES]
    if not ordered:
        raise ProtocolError(f"published: no utterance labelled {', '.join(PUBLISHED_CLASSES)}")
    random.Random(seed).shuffle(ordered)
    rest, test = _sklearn_split(ordered, 0.2, seed)
    train, valid = _sklearn_split(rest, 0.1, seed)
    return [Fold(*(tuple(sorted(x, key=c_sort_key)) for x in (train, valid, test)))]


CORPUS = CorpusInfo(
    name="esd", labels=LABELS, db_variable="ESD",
    description="Emotion Speech Dataset (licensed: request it from its authors, "
                "github.com/HLTSingapore/Emotional-Speech-Data)",
    protocols=[
        Protocol("lo2so", lo2so,
                 "Leave two speakers out, 5 folds: test = the k-th male and k-th female speaker "
                 "(id order); valid = one speaker of the next fold's pair (female in odd folds, "
                 "male in even folds); train = the other 7.", True, True,
                 caveat=TEXT_REPEATS.format(n=350)),
        Protocol("published", published_split,
                 "MemoCMT's published code's split: the Angry, Happy, Neutral and Sad utterances "
                 "(speakers in id order, ids in order) shuffled with Python's random.Random(seed), "
                 "then sklearn's train_test_split twice with random_state=seed: 20 % test, then 10 % "
                 "of the rest valid (72/8/20, not stratified, not per speaker). Surprise is in no "
                 "part: the published code keeps four classes.", False, False, seeded=True,
                 caveat="SPEAKER- AND SENTENCE-DEPENDENT: every speaker, and a sentence read in "
                        "another emotion, is in train, valid and test."),
        official_protocol(
            description="The release's split (utt2split): train, evaluation (= valid), test; per "
                        "speaker and emotion, sentence positions 1-20 valid, 21-50 test, 51-350 train.",
            caveat="SPEAKER-DEPENDENT: all ten speakers are in every part. Sentence-"
                   "independent: a sentence index is in one part for every speaker and emotion."),
    ],
    default_protocol="lo2so")
