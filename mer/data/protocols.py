"""Evaluation protocols: which utterances train, validate and test, fold by fold.

A protocol turns a prepared corpus dir (`data/all`) into folds, each a (train, valid, test)
partition of the utterances. `write_protocol` writes `<out>/fold<k>/{train,valid,test}` (k from 1;
a protocol with one split has only fold1), each a complete data dir, plus `<out>/README` saying
how it was made and a `.done` marker: a rerun on unchanged input returns at once, a rerun on
changed input (or another seed) rebuilds (mer.data.protocol_dirs, which also finds a corpus's protocol by
name).

Each corpus declares its own protocols in its module (`CORPUS = CorpusInfo(protocols=...)`, see
mer.data.corpora.registry); `python -m mer.bin.corpora list` shows them all, the default marked.
Here are the building blocks they are made of, usable for any corpus:
  loso_protocol(valid="next")  leave one speaker (or one value of a column) out, the next validates
  official_protocol()          the corpus's own utt2split column
  leave_groups_out             named groups (speakers, sessions, ...) held out per fold
  random_split                 seeded shuffle, test and valid fractions
  stratified_resplit           the same per class
  split_column                 the fold a train/valid/test column gives
"""
from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Collection, Iterable, Mapping, Sequence

from mer.data.datadir import DataDir
from mer.data.kaldi_io import c_sort_key

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

def column(dd: DataDir, name: str) -> dict[str, str]:
    col = dd.extra.get(name)
    if not col:
        raise ProtocolError(f"the data dir has no {name}; prepare the corpus with mer.bin.prepare_corpus")
    return col


def speaker_column(dd: DataDir, name: str) -> dict[str, str]:
    """speaker -> value of a per-utterance column; one value per speaker or an error."""
    out: dict[str, str] = {}
    for utt, value in column(dd, name).items():
        spk = dd.utt2spk[utt]
        if out.setdefault(spk, value) != value:
            raise ProtocolError(f"speaker {spk} has several values in {name} ({out[spk]}, {value})")
    return out


def by_value(mapping: Mapping[str, str]) -> dict[str, list[str]]:
    """value -> sorted keys, values in C order."""
    groups: dict[str, list[str]] = {}
    for key, value in mapping.items():
        groups.setdefault(value, []).append(key)
    return {v: sorted(ks, key=c_sort_key)
            for v, ks in sorted(groups.items(), key=lambda kv: c_sort_key(kv[0]))}


# ---------------------------------------------------------------- protocols

def official(dd: DataDir, seed: int = 0) -> list[Fold]:
    """The fold of the corpus's own utt2split column."""
    fold, _ = split_column(column(dd, "utt2split"))
    return [fold]


def stratified_resplit(utt2label: Mapping[str, str], test_fraction: float, valid_fraction: float,
                       seed: int = 0) -> Fold:
    """Per class (seeded shuffle of its sorted ids), ceil(test_fraction * n) utterances test; of
    the rest, pooled and shuffled, ceil(valid_fraction * n_rest) valid, the others train. Rounding
    test up per class is what reproduces the cnn-bert-attention paper's Table 1 to the utterance
    (MELD: 2,674 = sum of ceil(0.2 n) over its six classes; MOSEI: 5,715)."""
    rng = random.Random(seed)
    test, rest = [], []
    for _, utts in by_value(utt2label).items():
        rng.shuffle(utts)
        n_test = math.ceil(test_fraction * len(utts))
        test += utts[:n_test]
        rest += utts[n_test:]
    rest.sort(key=c_sort_key)
    rng.shuffle(rest)
    n_valid = math.ceil(valid_fraction * len(rest))
    return _fold(rest[n_valid:], rest[:n_valid], test)


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
    # Options of the corpus's `prepare` (stage 1) this protocol needs, e.g. {"label_set": "6class"}:
    # said in make_protocol's errors and used by the tests that run every protocol.
    prepare_options: Mapping[str, object] = field(default_factory=dict)


TEXT_REPEATS = ("Every speaker reads the same {n} sentences, so a text model sees the test "
                "sentences in training (a text leak, not a speaker leak).")


def loso_protocol(valid: str = "next", by: str = "speaker", name: str = "loso", description: str = "",
                  caveat: str = "") -> Protocol:
    """Leave one speaker out (or one value of the column `by`, e.g. "utt2session"): one fold per
    speaker in id (C) order, which tests it; the next speaker (cyclic) validates; the others train.
    `valid="next"` is the one rule so far (named, so the README of the folds can say it)."""
    if valid != "next":
        raise ValueError(f"loso_protocol: valid={valid!r}; the rule implemented is 'next'")
    what = "speaker" if by == "speaker" else by.removeprefix("utt2")

    def make(dd: DataDir, seed: int = 0) -> list[Fold]:
        utt2group = dd.utt2spk if by == "speaker" else column(dd, by)
        groups = sorted(set(utt2group.values()), key=c_sort_key)
        if len(groups) < 3:
            raise ProtocolError(f"leave-one-{what}-out with a valid {what} needs 3 {what}s; found {groups}")
        return leave_groups_out(utt2group, [([g], [groups[(k + 1) % len(groups)]]) for k, g in enumerate(groups)])

    return Protocol(name, make, description or
                    f"Leave one {what} out, one fold per {what}: test = {what} k (id order); valid = the "
                    f"next {what} (cyclic); train = the others.", True, True, caveat=caveat)


def official_protocol(name: str = "official", description: str = "", speaker_independent: bool = False,
                      caveat: str = "") -> Protocol:
    """The corpus's own split: its `utt2split` column (train/valid/test; other values are in no part)."""
    return Protocol(name, official, description or "The corpus's own train/valid/test split (utt2split).",
                    speaker_independent, False, caveat=caveat)


PAIRS = (("train", "valid"), ("train", "test"), ("valid", "test"))


def shared_between(utt2group: Mapping[str, str], fold: Fold) -> dict[tuple[str, str], list[str]]:
    """(part, part) -> the groups (speakers, sessions, ...; C-sorted) with utterances in both
    parts, for each pair of parts; utterances without a group are left out."""
    groups = {p: {utt2group[u] for u in fold.part(p) if u in utt2group} for p in PARTS}
    return {(a, b): sorted(groups[a] & groups[b], key=c_sort_key) for a, b in PAIRS}


def check_folds(dd: DataDir, folds: Sequence[Fold], proto: Protocol) -> None:
    """Assert what the protocol promises; a ProtocolError names the fold and the problem."""
    all_utts = set(dd.utt2spk)
    tested = Counter()
    for k, fold in enumerate(folds, 1):
        sets = {p: set(fold.part(p)) for p in PARTS}
        for p in PARTS:
            if not sets[p]:
                raise ProtocolError(f"fold{k}: {p} is empty")
        for a, b in PAIRS:
            if sets[a] & sets[b]:
                raise ProtocolError(f"fold{k}: {len(sets[a] & sets[b])} utterances in both {a} and {b}")
        leaks = [f"speaker(s) {', '.join(shared)} in both {a} and {b}"
                 for (a, b), shared in shared_between(dd.utt2spk, fold).items() if shared]
        if proto.speaker_independent and leaks:
            raise ProtocolError(f"fold{k}: {'; '.join(leaks)}, but protocol '{proto.name}' is declared "
                                f"speaker-independent (a speaker leak; declare it speaker-dependent or fix its folds)")
        tested.update(sets["test"])
    if proto.cross_validation:
        if set(tested) != all_utts or any(n != 1 for n in tested.values()):
            raise ProtocolError("the folds do not test every utterance exactly once")
