"""Dialogues of a data dir: which utterances form one, in which order, and whether sets split them.

A corpus with dialogues writes `utt2dialog` (`<utt> <dialogue id>`) and `utt2turn` (`<utt> <number>`,
a start time in seconds or an index). The order within a dialogue is by (turn, utterance id): the
utterance id only breaks ties, so two speakers' turns interleave in time.
"""
from __future__ import annotations

from typing import Mapping

from mer.data.datadir import DataDir
from mer.data.kaldi_io import c_sort_key


class DialogueError(ValueError):
    """A data dir lacks what grouping by dialogue needs (utt2dialog, a utt2turn line)."""


def _where(data: DataDir) -> str:
    return data.source or "data dir (not loaded from disk)"


def _utt2dialog(data: DataDir, name: str = "") -> dict[str, str]:
    """utt2dialog of `data`; a DialogueError when it has none (an empty dir has no dialogues)."""
    utt2dialog = data.extra.get("utt2dialog")
    if not utt2dialog and len(data):
        label = f"{name} ({_where(data)})" if name else _where(data)
        raise DialogueError(f"{label}: no utt2dialog, so its utterances cannot be grouped into "
                            f"dialogues (prepare the corpus again if it has dialogues)")
    return utt2dialog or {}


def dialogues(data: DataDir) -> dict[str, list[str]]:
    """Dialogue id -> its utterance ids in turn order, dialogues in C order.

    Only utterances of the dir (utt2spk) that have a dialogue are grouped. DialogueError, naming the
    data dir, when there is no utt2dialog or an utterance with a dialogue has no utt2turn line.
    """
    utt2dialog = _utt2dialog(data)
    turns = data.utt2turn
    groups: dict[str, list[tuple[float, bytes, str]]] = {}
    for utt in data.utt2spk:
        if utt not in utt2dialog:
            continue
        if utt not in turns:
            raise DialogueError(f"{_where(data)}: utterance '{utt}' of dialogue '{utt2dialog[utt]}' has "
                                f"no line in utt2turn, so its place in the dialogue is unknown "
                                f"(prepare the corpus again: preparation writes utt2turn)")
        groups.setdefault(utt2dialog[utt], []).append((turns[utt], c_sort_key(utt), utt))
    return {dia: [utt for _, _, utt in sorted(groups[dia])] for dia in sorted(groups, key=c_sort_key)}


def dialogue_split_violations(dirs: Mapping[str, DataDir]) -> list[str]:
    """The dialogue ids (C-sorted) whose utterances fall into more than one of `dirs`, e.g.
    {"train": ..., "test": ...}: a protocol that splits them cannot train on whole dialogues.

    DialogueError when a non-empty dir has no utt2dialog (it could not be checked).
    """
    sets_of: dict[str, set[str]] = {}
    for name, data in dirs.items():
        utt2dialog = _utt2dialog(data, name)
        for utt in data.utt2spk:
            if utt in utt2dialog:
                sets_of.setdefault(utt2dialog[utt], set()).add(name)
    return sorted((dia for dia, names in sets_of.items() if len(names) > 1), key=c_sort_key)
