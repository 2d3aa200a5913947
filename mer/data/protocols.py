"""Evaluation protocols: which utterances train, validate and test, fold by fold.

A protocol turns a prepared corpus dir (`data/all`) into folds, each a (train, valid, test)
partition of the utterances. `write_protocol` writes `<out>/fold<k>/{train,valid,test}` (k from 1;
a protocol with one split has only fold1), each a complete data dir, plus `<out>/README` saying
how it was made and a `.done` marker: a rerun on unchanged input returns at once, a rerun on
changed input (or another seed) rebuilds.

Building blocks (usable for any corpus): `leave_groups_out` (named groups, e.g. speakers, held
out per fold), `random_split` (seeded shuffle), `split_column` (the corpus's own utt2split).

Registered protocols (DEFAULT_PROTOCOL first):
  iemocap  loso    5 folds; test = session k (both speakers); valid = one speaker of session k+1
                   (cyclic; F in odd folds, M in even folds); train = the other 7 speakers
           random  MemoCMT's published split: seeded shuffle, 10% test, then 10% of the rest
                   valid (~81/9/10); speaker-dependent
           si      sessions 1-4 train; session 5 male = valid, female = test
           sd      seeded random 80/10/10; speaker-dependent
  esd      lo2so   5 folds; test = one male + one female speaker (i-th male with i-th female in
                   id order); valid = one speaker of the next fold's pair (female in odd folds,
                   male in even folds); train = the other 7
           official  the release's train/evaluation/test (utt2split); speaker-dependent
  emodb    loso    10 folds; test = speaker k (id order); valid = the next speaker (cyclic)
  meld     official  utt2split (train/dev/test); speakers overlap
           resplit   the cnn-bert-attention paper's split: train, dev and test pooled, 6 classes
                     (fear dropped in stage 1), per class 20% test (rounded up), the rest train,
                     10% of it valid; dialogues are split (a leak, said in the README)
  mosei    official  utt2split (SDK standard folds); speakers unknown
           resplit   the same paper's split of (segment, emotion) samples (`--samples emotion`
                     in stage 1): per class 20% test (rounded up), 10% of the rest valid; a
                     segment's copies fall on both sides (a leak)
  synthetic fixed  utt2split (the demo corpus generator's speaker-disjoint split)
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, Iterable, Mapping, Sequence

from mer.data.datadir import DataDir
from mer.data.kaldi_io import c_sort_key
from mer.utils.fileio import write_text_atomic

PARTS = ("train", "valid", "test")
MARKER = ".done"


class ProtocolError(ValueError):
    """The data dir cannot be split as the protocol asks (a group missing, a part empty, ...)."""


@dataclass(frozen=True)
class Fold:
    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]

    def part(self, name: str) -> tuple[str, ...]:
        return getattr(self, name)


def _fold(train: Iterable[str], valid: Iterable[str], test: Iterable[str]) -> Fold:
    return Fold(*(tuple(sorted(x, key=c_sort_key)) for x in (train, valid, test)))


# ---------------------------------------------------------------- building blocks

def leave_groups_out(utt2group: Mapping[str, str],
                     folds: Sequence[tuple[Collection[str], Collection[str]]]) -> list[Fold]:
    """One fold per (test groups, valid groups): those groups' utterances are test and valid,
    every other utterance trains. A group named but absent from the data is an error."""
    present = set(utt2group.values())
    out = []
    for k, (test_groups, valid_groups) in enumerate(folds, 1):
        overlap = set(test_groups) & set(valid_groups)
        if overlap:
            raise ProtocolError(f"fold{k}: groups {sorted(overlap)} are both test and valid")
        missing = (set(test_groups) | set(valid_groups)) - present
        if missing:
            raise ProtocolError(f"fold{k}: no utterance of {', '.join(sorted(missing))}; "
                                f"present: {', '.join(sorted(present, key=c_sort_key))}")
        test = [u for u, g in utt2group.items() if g in test_groups]
        valid = [u for u, g in utt2group.items() if g in valid_groups]
        train = [u for u, g in utt2group.items() if g not in test_groups and g not in valid_groups]
        out.append(_fold(train, valid, test))
    return out


def random_split(utts: Iterable[str], test_fraction: float, valid_fraction: float,
                 seed: int = 0) -> Fold:
    """Shuffle (seeded; the input is sorted first, so its order does not matter), take
    ceil(test_fraction * n) utterances for test, then ceil(valid_fraction * rest) for valid, the
    rest for train. ceil as in sklearn's train_test_split, which MemoCMT's code calls twice."""
    pool = sorted(set(utts), key=c_sort_key)
    random.Random(seed).shuffle(pool)
    n_test = math.ceil(test_fraction * len(pool))
    n_valid = math.ceil(valid_fraction * (len(pool) - n_test))
    return _fold(pool[n_test + n_valid:], pool[n_test:n_test + n_valid], pool[:n_test])


def split_column(utt2split: Mapping[str, str]) -> tuple[Fold, Counter]:
    """The fold given by a train/valid/test column, and the count of any other values (their
    utterances are in no part)."""
    parts = {p: [u for u, s in utt2split.items() if s == p] for p in PARTS}
    others = Counter(s for s in utt2split.values() if s not in PARTS)
    return _fold(parts["train"], parts["valid"], parts["test"]), others


# ---------------------------------------------------------------- helpers on a data dir

def _column(dd: DataDir, name: str) -> dict[str, str]:
    col = dd.extra.get(name)
    if not col:
        raise ProtocolError(f"the data dir has no {name}; prepare the corpus with mer.bin.prepare_corpus")
    return col


def _speaker_column(dd: DataDir, name: str) -> dict[str, str]:
    """speaker -> value of a per-utterance column; one value per speaker or an error."""
    out: dict[str, str] = {}
    for utt, value in _column(dd, name).items():
        spk = dd.utt2spk[utt]
        if out.setdefault(spk, value) != value:
            raise ProtocolError(f"speaker {spk} has several values in {name} ({out[spk]}, {value})")
    return out


def _by_value(mapping: Mapping[str, str]) -> dict[str, list[str]]:
    """value -> sorted keys, values in C order."""
    groups: dict[str, list[str]] = {}
    for key, value in mapping.items():
        groups.setdefault(value, []).append(key)
    return {v: sorted(ks, key=c_sort_key)
            for v, ks in sorted(groups.items(), key=lambda kv: c_sort_key(kv[0]))}


# ---------------------------------------------------------------- protocols

def iemocap_loso(dd: DataDir, seed: int = 0) -> list[Fold]:
    sessions = _by_value(_speaker_column(dd, "utt2session"))  # session -> its speakers (F, M)
    names = list(sessions)
    folds = []
    for k, session in enumerate(names, 1):
        following = sessions[names[k % len(names)]]
        # Alternate which speaker of the next session validates: F in fold 1, M in fold 2, ...
        folds.append((sessions[session], [following[(k - 1) % len(following)]]))
    return leave_groups_out(dd.utt2spk, folds)


def iemocap_si(dd: DataDir, seed: int = 0) -> list[Fold]:
    sessions = _by_value(_speaker_column(dd, "utt2session"))
    gender = _speaker_column(dd, "utt2gender")
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


def esd_lo2so(dd: DataDir, seed: int = 0) -> list[Fold]:
    by_gender = _by_value(_speaker_column(dd, "utt2gender"))
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


def leave_one_speaker_out(dd: DataDir, seed: int = 0) -> list[Fold]:
    speakers = dd.speakers
    if len(speakers) < 3:
        raise ProtocolError(f"leave-one-speaker-out with a valid speaker needs 3 speakers; found {speakers}")
    return leave_groups_out(dd.utt2spk, [([s], [speakers[(k + 1) % len(speakers)]])
                                         for k, s in enumerate(speakers)])


def official(dd: DataDir, seed: int = 0) -> list[Fold]:
    fold, _ = split_column(_column(dd, "utt2split"))
    return [fold]


def stratified_resplit(utt2label: Mapping[str, str], test_fraction: float, valid_fraction: float,
                       seed: int = 0) -> Fold:
    """Per class (seeded shuffle of its sorted ids), ceil(test_fraction * n) utterances test; of
    the rest, pooled and shuffled, ceil(valid_fraction * n_rest) valid, the others train. Rounding
    test up per class is what reproduces the cnn-bert-attention paper's Table 1 to the utterance
    (MELD: 2,674 = sum of ceil(0.2 n) over its six classes; MOSEI: 5,715)."""
    rng = random.Random(seed)
    test, rest = [], []
    for _, utts in _by_value(utt2label).items():
        rng.shuffle(utts)
        n_test = math.ceil(test_fraction * len(utts))
        test += utts[:n_test]
        rest += utts[n_test:]
    rest.sort(key=c_sort_key)
    rng.shuffle(rest)
    n_valid = math.ceil(valid_fraction * len(rest))
    return _fold(rest[n_valid:], rest[:n_valid], test)


def meld_resplit(dd: DataDir, seed: int = 0) -> list[Fold]:
    from mer.data.corpora.meld import LABEL_SETS

    six = set(LABEL_SETS["6class"])
    other = sorted(set(dd.utt2emo.values()) - six)
    if other:
        raise ProtocolError(f"resplit is the paper's 6-class split, but the data dir has labels {other}: "
                            f"prepare it with --label-set 6class (fear is then listed in `excluded`)")
    return [stratified_resplit(dd.utt2emo, 0.2, 0.1, seed)]


def mosei_resplit(dd: DataDir, seed: int = 0) -> list[Fold]:
    if "utt2segment" not in dd.extra:
        raise ProtocolError("resplit splits (segment, emotion) samples: prepare MOSEI with --samples emotion "
                            "(its data dir then has utt2segment)")
    return [stratified_resplit(dd.utt2emo, 0.2, 0.1, seed)]


@dataclass(frozen=True)
class Protocol:
    name: str
    make: Callable[[DataDir, int], list[Fold]]
    description: str
    speaker_independent: bool
    cross_validation: bool  # every utterance is tested in exactly one fold
    seeded: bool = False
    caveat: str = ""
    # The split cuts dialogues: each part's turns of a dialogue become a dialogue of their own
    # (utt2dialog suffixed with the part), so a context model sees only same-part turns.
    splits_dialogues: bool = False


_TEXT_REPEATS = ("Every speaker reads the same {n} sentences, so a text model sees the test "
                 "sentences in training (a text leak, not a speaker leak).")

PROTOCOLS: dict[str, dict[str, Protocol]] = {
    "iemocap": {p.name: p for p in (
        Protocol("loso", iemocap_loso,
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
        Protocol("si", iemocap_si,
                 "Speaker-independent hold-out: sessions 1-4 train; session 5 male speaker = "
                 "valid, female speaker = test.", True, False),
        Protocol("sd", random_80_10_10,
                 "Speaker-dependent random 80/10/10 split of all utterances (seeded).",
                 False, False, seeded=True,
                 caveat="SPEAKER-DEPENDENT: every speaker is in train, valid and test."),
    )},
    "esd": {p.name: p for p in (
        Protocol("lo2so", esd_lo2so,
                 "Leave two speakers out, 5 folds: test = the k-th male and k-th female speaker "
                 "(id order); valid = one speaker of the next fold's pair (female in odd folds, "
                 "male in even folds); train = the other 7.", True, True,
                 caveat=_TEXT_REPEATS.format(n=350)),
        Protocol("official", official,
                 "The release's split (utt2split): train, evaluation (= valid), test; per "
                 "speaker and emotion, sentence positions 1-20 valid, 21-50 test, 51-350 train.",
                 False, False,
                 caveat="SPEAKER-DEPENDENT: all ten speakers are in every part. Sentence-"
                        "independent: a sentence index is in one part for every speaker and emotion."),
    )},
    "emodb": {p.name: p for p in (
        Protocol("loso", leave_one_speaker_out,
                 "Leave one speaker out, 10 folds: test = speaker k (id order); valid = the next "
                 "speaker (cyclic); train = the other 8.", True, True,
                 caveat=_TEXT_REPEATS.format(n=10)),
    )},
    "meld": {p.name: p for p in (
        Protocol("official", official, "MELD's own train/dev/test split (utt2split; dev = valid).",
                 False, False,
                 caveat="Not speaker-independent: the main characters speak in every split."),
        Protocol("resplit", meld_resplit,
                 "The cnn-bert-attention paper's split (its Table 1): train, dev and test pooled, 6 "
                 "classes (fear dropped), per class 20% test rounded up (2,674 of 13,350 on MELD), the "
                 "other 80% (10,676) split again: 10% valid (rounded up), the rest train.",
                 False, False, seeded=True, splits_dialogues=True,
                 caveat="LEAKS: utterances are drawn one by one, so a dialogue's turns (its speakers, "
                        "scene and context) fall into train and test alike. Each part's turns of a "
                        "dialogue form a shorter dialogue of their own (utt2dialog suffixed with the "
                        "part). Not comparable with `official`."),
    )},
    "mosei": {p.name: p for p in (
        Protocol("official", official,
                 "The CMU-MultimodalSDK standard folds (utt2split), split by video.", False, False,
                 caveat="Speakers are not annotated; videos do not cross splits, but one "
                        "speaker may appear in several videos."),
        Protocol("resplit", mosei_resplit,
                 "The cnn-bert-attention paper's split (its Table 1): one sample per segment and "
                 "emotion with intensity > 0 (stage 1 with --samples emotion), per class 20% test "
                 "rounded up, the other 80% split again: 10% valid (rounded up), the rest train.",
                 False, False, seeded=True, splits_dialogues=True,
                 caveat="LEAKS: a segment with several emotions is several samples with the same "
                        "audio and text, and they fall on both sides of the split; videos are split "
                        "too (each part's segments of a video form a dialogue of their own). Not "
                        "comparable with `official`."),
    )},
    "synthetic": {p.name: p for p in (
        Protocol("fixed", official,
                 "The generator's fixed speaker-disjoint train/valid/test split (utt2split).",
                 True, False),
    )},
}
DEFAULT_PROTOCOL = {"iemocap": "loso", "esd": "lo2so", "emodb": "loso", "meld": "official",
                    "mosei": "official", "synthetic": "fixed"}


def get_protocol(corpus: str, protocol: str) -> Protocol:
    """The named protocol of `corpus`; `default` names the corpus's default."""
    if corpus not in PROTOCOLS:
        raise ProtocolError(f"no protocols for corpus '{corpus}'; known: {', '.join(PROTOCOLS)}")
    if protocol == "default":
        protocol = DEFAULT_PROTOCOL[corpus]
    if protocol not in PROTOCOLS[corpus]:
        raise ProtocolError(f"no protocol '{protocol}' for {corpus}; known: {', '.join(PROTOCOLS[corpus])}")
    return PROTOCOLS[corpus][protocol]


def speaker_independent(corpus: str, protocol: str) -> bool:
    """Whether no speaker of a fold's test (or valid) part is in another part of that fold."""
    return get_protocol(corpus, protocol).speaker_independent


def check_folds(dd: DataDir, folds: Sequence[Fold], proto: Protocol) -> None:
    """Assert what the protocol promises; a ProtocolError names the fold and the problem."""
    all_utts = set(dd.utt2spk)
    tested = Counter()
    for k, fold in enumerate(folds, 1):
        sets = {p: set(fold.part(p)) for p in PARTS}
        for p in PARTS:
            if not sets[p]:
                raise ProtocolError(f"fold{k}: {p} is empty")
        for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
            if sets[a] & sets[b]:
                raise ProtocolError(f"fold{k}: {len(sets[a] & sets[b])} utterances in both {a} and {b}")
            if proto.speaker_independent:
                shared = {dd.utt2spk[u] for u in sets[a]} & {dd.utt2spk[u] for u in sets[b]}
                if shared:
                    raise ProtocolError(f"fold{k}: speakers {sorted(shared)} in both {a} and {b}")
        tested.update(sets["test"])
    if proto.cross_validation:
        if set(tested) != all_utts or any(n != 1 for n in tested.values()):
            raise ProtocolError("the folds do not test every utterance exactly once")


# ---------------------------------------------------------------- writing

def fingerprint(data_dir: str | os.PathLike) -> str:
    """sha256 over the names and contents of the files of a data dir (not its subfolders)."""
    h = hashlib.sha256()
    for p in sorted(Path(data_dir).iterdir(), key=lambda p: p.name):
        if p.is_file() and not p.name.startswith("."):
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _readme(corpus: str, proto: Protocol, dd: DataDir, folds: Sequence[Fold], data_dir: str,
            seed: int, command: str | None, others: Counter) -> str:
    def describe(utts: Sequence[str]) -> str:
        spks = sorted({dd.utt2spk[u] for u in utts}, key=c_sort_key)
        shown = " ".join(spks) if len(spks) <= 4 else f"{len(spks)} speakers"
        return f"{len(utts):6d} utts ({shown})"

    lines = [f"{corpus} protocol '{proto.name}', made from {data_dir} ({len(dd)} utterances, "
             f"{len(dd.speakers)} speakers) by mer.data.protocols.",
             "", proto.description, ""]
    lines.append("Speaker-independent: " + ("yes: no speaker is in two parts of a fold."
                                            if proto.speaker_independent else "NO."))
    if proto.caveat:
        lines.append(proto.caveat)
    if proto.seeded:
        lines.append(f"Random seed: {seed}.")
    if others:
        lines.append("Utterances in no part (utt2split values other than train/valid/test): "
                     + ", ".join(f"{v} {n}" for v, n in sorted(others.items())))
    if command:
        lines += ["", f"Command: {command}"]
    lines += ["", "Folds (utterances, speakers):"]
    for k, fold in enumerate(folds, 1):
        lines.append(f"  fold{k}: " + "; ".join(f"{p} {describe(fold.part(p))}" for p in PARTS))
    if proto.splits_dialogues:
        lines += ["", "Split across parts (the leak, counted):"] + [f"  fold{k}: {line}" for k, fold in
                                                                   enumerate(folds, 1) for line in _cut(dd, fold)]
    return "\n".join(lines) + "\n"


def _cut(dd: DataDir, fold: Fold) -> list[str]:
    """How many dialogues (and, for copied samples, segments) have utterances in more than one part."""
    out = []
    for column, what in (("utt2dialog", "dialogues"), ("utt2segment", "segments")):
        col = dd.extra.get(column)
        if not col:
            continue
        parts: dict[str, set[str]] = {}
        for p in PARTS:
            for u in fold.part(p):
                parts.setdefault(col[u], set()).add(p)
        both = sum(len(ps) > 1 for ps in parts.values())
        train_test = sum({"train", "test"} <= ps for ps in parts.values())
        out.append(f"{what}: {both} of {len(parts)} in more than one part, {train_test} in train and test")
    return out


def write_protocol(corpus: str, protocol: str, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
                   seed: int = 0, command: str | None = None) -> bool:
    """Write the folds of `protocol` for the prepared `data_dir` to `out_dir`.

    Returns False (and writes nothing) when `out_dir` already holds this protocol made from the
    same input with the same seed, True when it (re)built it.
    """
    proto = get_protocol(corpus, protocol)
    data_dir, out = Path(data_dir), Path(out_dir)
    dd = DataDir.load(data_dir)
    stamp = {"corpus": corpus, "protocol": proto.name, "seed": seed if proto.seeded else None,
             "input": fingerprint(data_dir)}
    marker = out / MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")) == stamp:
                return False
        except ValueError:
            pass  # a damaged marker: rebuild

    folds = proto.make(dd, seed)
    check_folds(dd, folds, proto)
    others = split_column(dd.extra["utt2split"])[1] if proto.make is official else Counter()

    out.mkdir(parents=True, exist_ok=True)
    if marker.exists():
        marker.unlink()
    # Old folds go first: a rebuild with fewer folds must not leave fold6 behind.
    for old in out.glob("fold*"):
        if old.is_dir() and old.name[4:].isdigit():
            shutil.rmtree(old)
    labels = data_dir / "labels"
    for k, fold in enumerate(folds, 1):
        for part in PARTS:
            target = out / f"fold{k}" / part
            sub = dd.subset(fold.part(part))
            if proto.splits_dialogues and "utt2dialog" in sub.extra:
                sub.extra["utt2dialog"] = {u: f"{d}-{part}" for u, d in sub.extra["utt2dialog"].items()}
            sub.save(target)
            if labels.is_file():
                shutil.copyfile(labels, target / "labels")
    if labels.is_file():
        shutil.copyfile(labels, out / "labels")
    write_text_atomic(out / "README", _readme(corpus, proto, dd, folds, str(data_dir), seed, command, others))
    write_text_atomic(marker, json.dumps(stamp, indent=1) + "\n")
    return True
