"""Grouping a data dir by dialogue (utt2dialog + utt2turn) and finding dialogues split across sets."""
from __future__ import annotations

import re

import pytest

from mer.data.datadir import DataDir
from mer.data.dialogues import DialogueError, dialogue_split_violations, dialogues

# utt -> (speaker, dialogue, turn). d1: two speakers interleaved in time, turns not in C order of
# the ids, "10.25" after "9.5" (numbers, not strings); d2: integer turns with a tie.
UTTS = {
    "A-1": ("A", "d1", "0.5"),
    "A-2": ("A", "d1", "10.25"),
    "B-1": ("B", "d1", "9.5"),
    "B-2": ("B", "d1", "2"),
    "A-3": ("A", "d2", "1"),
    "B-3": ("B", "d2", "0"),
    "C-1": ("C", "d2", "1"),          # same turn as A-3: the utterance id breaks the tie
}


def build(utts=UTTS, turns=True) -> DataDir:
    d = DataDir()
    for utt, (spk, dia, turn) in utts.items():
        d.add(utt, spk, emo="neu", dialog=dia, turn=turn if turns else None)
    return d


def test_dialogues_in_turn_order(tmp_path):
    d = build()
    assert dialogues(d) == {"d1": ["A-1", "B-2", "B-1", "A-2"], "d2": ["B-3", "A-3", "C-1"]}
    d.save(tmp_path / "x")
    assert dialogues(DataDir.load(tmp_path / "x")) == dialogues(d)
    assert dialogues(d.subset(["A-2", "A-1", "B-1"])) == {"d1": ["A-1", "B-1", "A-2"]}


def test_missing_turn_names_the_data_dir_and_utterance(tmp_path):
    d = build()
    del d.extra["utt2turn"]["B-1"]
    d.save(tmp_path / "x")
    where = re.escape(str(tmp_path / "x"))
    with pytest.raises(DialogueError, match=rf"{where}: utterance 'B-1' of dialogue 'd1' has no line in utt2turn"):
        dialogues(DataDir.load(tmp_path / "x"))
    with pytest.raises(DialogueError, match="'A-1' of dialogue 'd1' has no line in utt2turn"):
        dialogues(build(turns=False))


def test_no_utt2dialog_is_an_error(tmp_path):
    d = build()
    del d.extra["utt2dialog"], d.extra["utt2turn"]
    d.save(tmp_path / "x")
    with pytest.raises(DialogueError, match=rf"{re.escape(str(tmp_path / 'x'))}: no utt2dialog"):
        dialogues(DataDir.load(tmp_path / "x"))
    with pytest.raises(DialogueError, match=r"^test \(.*\): no utt2dialog"):
        dialogue_split_violations({"train": build(), "test": d})


def test_dialogue_split_violations():
    d = build()
    assert dialogue_split_violations({"train": d.subset(["A-1", "A-2", "B-1", "B-2"]),
                                      "test": d.subset(["A-3", "B-3", "C-1"])}) == []
    # d1 is cut between train and valid, d2 between valid and test: both are named, C-sorted.
    assert dialogue_split_violations({"train": d.subset(["A-1", "B-2"]),
                                      "valid": d.subset(["A-2", "B-1", "A-3"]),
                                      "test": d.subset(["B-3", "C-1"])}) == ["d1", "d2"]
    # by speaker, both dialogues fall apart
    assert dialogue_split_violations({"a": d.filter(lambda u: u.startswith("A")),
                                      "b": d.filter(lambda u: not u.startswith("A"))}) == ["d1", "d2"]
    assert dialogue_split_violations({"train": d, "test": DataDir()}) == []
