"""Labels a recipe does not know, in the data dirs a model is trained on: an error, or dropped and counted.

A raw label is known when it is in the recipe's label set (data/all/labels, written by corpus
preparation, which leaves out other labels with a reason in `excluded`), is renamed by
`labels.map`, or is one of `labels.classes` (`LabelMap.known`). Any other label is a mistake
(`Ang` for `ang`, a stray `bored`) that would quietly remove a class from training. With
`labels.unknown: error` (the default) training stops, naming file, line and label; with `drop` the
utterances are left out, counted per label, logged, and recorded in EXP_DIR/dropped_labels.json,
which RESULTS.md reports (mer.scoring.dropped_labels).
"""
from __future__ import annotations

import logging
from pathlib import Path

from mer.data.kaldi_io import read_kv
from mer.inputs import LabelMap
from mer.utils.fileio import write_json_atomic

log = logging.getLogger("mer.train")
DROPPED_FILE = "dropped_labels.json"


def unknown_labels(data_dir: str | Path, known: frozenset[str]) -> dict[str, list[tuple[int, str]]]:
    """label -> [(line, utterance)] of the utt2emo lines whose label is not in `known`."""
    path = Path(data_dir) / "utt2emo"
    if not path.is_file():
        return {}
    found: dict[str, list[tuple[int, str]]] = {}
    # read_kv refuses empty lines, so the n-th entry is line n.
    for lineno, (utt, label) in enumerate(read_kv(path).items(), 1):
        if label not in known:
            found.setdefault(label, []).append((lineno, utt))
    return found


def check_unknown_labels(label_map: LabelMap, data_dirs: dict[str, str | Path],
                         label_source: str) -> dict[str, dict[str, int]]:
    """Per set name (train, valid): the count of utterances left out per unknown label.

    Raises ValueError naming every unknown label's first file and line unless `label_map.unknown`
    is 'drop'. `label_source` says where the label set came from, for the message.
    """
    found = {name: unknown_labels(d, label_map.known) for name, d in data_dirs.items()}
    if not any(found.values()):
        return {}
    known = ", ".join(sorted(label_map.known))
    if label_map.unknown != "drop":
        where = []
        for name, labels in found.items():
            path = Path(data_dirs[name]) / "utt2emo"
            for label, lines in labels.items():
                more = f" ({len(lines)} lines with it)" if len(lines) > 1 else ""
                where.append(f"{path}:{lines[0][0]}: label '{label}' (utterance {lines[0][1]}){more}")
        raise ValueError(f"labels outside the label set {{{known}}} of {label_source}: " + "; ".join(where)
                         + ". Fix the labels, or set labels.unknown: drop to train without those utterances")
    return {name: {lab: len(lines) for lab, lines in labels.items()} for name, labels in found.items() if labels}


def record_dropped(exp_dir: str | Path, dropped: dict[str, dict[str, int]], data_dirs: dict[str, str | Path]) -> None:
    """Log what `labels.unknown: drop` left out and write EXP_DIR/dropped_labels.json (removed when
    nothing was dropped, so a rerun with fixed labels leaves no stale note)."""
    path = Path(exp_dir) / DROPPED_FILE
    for name, counts in dropped.items():
        log.warning("%s/utt2emo: labels.unknown is drop: left out %s of the %s set (labels outside the "
                    "label set)", data_dirs[name], ", ".join(f"{n} utterance(s) labelled '{lab}'"
                                                           for lab, n in counts.items()), name)
    if dropped:
        write_json_atomic(path, dropped)
    elif path.is_file():
        path.unlink()
