"""Berlin EmoDB (Burkhardt et al., 2005) in its original download layout (`wav/` and friends).

File names `SSTTTEv.wav`: SS speaker, TTT text code, E emotion letter (German initial), v version.
Speaker, gender and transcript come from the published tables below (the download has no machine-
readable speaker or sentence table), the label from the emotion letter.

Label sets (--label-set; --label-map, its former spelling, still works with a warning):
  7class (default)  W anger, L boredom, E disgust, A fear, F happiness, T sadness, N neutral
  4class            W ang, F hap, T sad, N neu (the IEMOCAP names and order); L, E, A excluded

Ids: the corpus's own `03a01Fa` (speaker `03` is its prefix, so utt2spk sorts by speaker).
Files: utt2gender (`m`/`f`); no utt2split (EmoDB has no official split).
Protocol: `loso` (leave one speaker out, the next speaker validates; 10 folds).
Wavs whose RIFF header carries extra chunks need nothing here: the audio loader parses chunks.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from mer.data.corpora.common import CorpusError, PrepReport, resolve_corpus_dir, wav_entry, write_prepared
from mer.data.corpora.options import old_spelling
from mer.data.corpora.registry import CorpusInfo
from mer.data.datadir import DataDir
from mer.data.protocols import TEXT_REPEATS, loso_protocol

LABELS = ("anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral")
LABEL_SETS = {
    "7class": (LABELS, {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear",
                        "F": "happiness", "T": "sadness", "N": "neutral"}),
    "4class": (("ang", "hap", "sad", "neu"), {"W": "ang", "F": "hap", "T": "sad", "N": "neu"}),
}
LETTER_NAMES = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
                "T": "sadness", "N": "neutral"}
SPEAKER_GENDER = {"03": "m", "08": "f", "09": "f", "10": "m", "11": "m", "12": "m", "13": "f",
                  "14": "f", "15": "m", "16": "f"}
SENTENCES = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
NAME_RE = re.compile(r"^(?P<spk>\d{2})(?P<text>[ab]\d{2})(?P<emo>[A-Z])(?P<version>[a-z])$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--label-set", choices=sorted(LABEL_SETS), default="7class",
                        help="7class: all seven emotions (default); 4class: ang/hap/sad/neu, "
                             "boredom, disgust and fear excluded")
    old_spelling(parser, "--label-map", "--label-set", "label_set", choices=sorted(LABEL_SETS))


def find_wav_dir(corpus_dir: Path) -> Path:
    for cand in (corpus_dir / "wav", corpus_dir):
        if cand.is_dir() and any(cand.glob("*.wav")):
            return cand
    raise CorpusError(f"{corpus_dir}: no wav/ folder with .wav files; is this the EmoDB download?")


def prepare(corpus_dir: Path, out_dir: Path, label_set: str = "7class") -> DataDir:
    if label_set not in LABEL_SETS:
        raise ValueError(f"unknown label set '{label_set}'; known: {', '.join(sorted(LABEL_SETS))}")
    labels, letter_to_label = LABEL_SETS[label_set]
    corpus_dir = resolve_corpus_dir(corpus_dir, "EMODB")
    report = PrepReport(corpus_dir)
    dd = DataDir()
    for wav in sorted(find_wav_dir(corpus_dir).glob("*.wav")):
        m = NAME_RE.match(wav.stem)
        if wav.name.startswith(".") or not m:
            report.warn(report.where(wav), "not an EmoDB name SSTTTEv.wav; ignored")
            continue
        utt, spk = wav.stem, m["spk"]
        if spk not in SPEAKER_GENDER:
            report.exclude(utt, f"speaker {spk} is not one of the ten EmoDB speakers")
            continue
        letter = m["emo"]
        if letter not in LETTER_NAMES:
            report.exclude(utt, f"emotion letter {letter} is not an EmoDB code")
            continue
        label = letter_to_label.get(letter)
        if label is None:
            report.exclude(utt, f"{LETTER_NAMES[letter]} ({letter}) not in the {label_set} set")
            continue
        text = SENTENCES.get(m["text"], "")
        if not text:
            report.missing_text(utt, f"text code {m['text']} is not one of the ten EmoDB sentences")
        dd.add(utt, spk, wav=wav_entry(wav, report), text=text, emo=label, gender=SPEAKER_GENDER[spk])
    write_prepared(dd, out_dir, labels, report)
    return dd


def write_fake(root: Path, speakers: tuple[str, ...] = ("03", "08", "09")) -> Path:
    """`root/wav/*.wav` (returned: `root`): each speaker x 7 emotions x 3 texts, half a second each,
    the emotion setting the pitch (150 Hz + 60 Hz per letter of WLEAFTN), so a model can learn it."""
    from mer.data.corpora.fakes import write_wav

    for spk in speakers:
        for k, letter in enumerate("WLEAFTN"):
            for take, text in zip("abc", ("a01", "a02", "b01")):
                write_wav(root / "wav" / f"{spk}{text}{letter}{take}.wav", seconds=0.5, freq=150 + 60 * k)
    return root


CORPUS = CorpusInfo(
    name="emodb", labels=LABELS, db_variable="EMODB",
    description="Berlin EmoDB (open): http://emodb.bilderbar.info/download/download.zip (stage 0 fetches it)",
    protocols=[loso_protocol(valid="next", description=(
        "Leave one speaker out, 10 folds: test = speaker k (id order); valid = the next speaker "
        "(cyclic); train = the other 8."), caveat=TEXT_REPEATS.format(n=10))],
    default_protocol="loso")
