"""What `labels.unknown: drop` left out of training, for RESULTS.md and the console.

Training writes EXP/<protocol>/<config>/<fold>/dropped_labels.json ({set: {label: utterances}},
mer.train.label_check) only when it left utterances out; a result row trained without them must
say so, since the scores then describe a model that never saw those utterances.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from mer.scoring.decode_dir import ScoringError
from mer.train.label_check import DROPPED_FILE


def collect_dropped(exp_dir: str | os.PathLike) -> dict[tuple[str, str], dict[str, dict[str, dict[str, int]]]]:
    """(protocol, config) -> fold -> set -> label -> utterances left out."""
    out: dict[tuple[str, str], dict] = {}
    for path in sorted(Path(exp_dir).glob(f"*/*/*/{DROPPED_FILE}")):
        try:
            counts = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ScoringError(f"{path}: not valid JSON: {e}") from e
        fold, config, protocol = path.parent.name, path.parent.parent.name, path.parent.parent.parent.name
        out.setdefault((protocol, config), {})[fold] = counts
    return out


def dropped_notes(exp_dir: str | os.PathLike) -> list[str]:
    """One line per trained system that left utterances out, with the count per label (summed over
    folds) and per set."""
    lines = []
    for (protocol, config), folds in sorted(collect_dropped(exp_dir).items()):
        per_set: dict[str, dict[str, int]] = {}
        for counts in folds.values():
            for set_name, labels in counts.items():
                for label, n in labels.items():
                    per_set.setdefault(set_name, {}).setdefault(label, 0)
                    per_set[set_name][label] += n
        what = "; ".join(f"{set_name}: " + ", ".join(f"'{lab}' {n}" for lab, n in sorted(labels.items()))
                         for set_name, labels in sorted(per_set.items()))
        lines.append(f"{config} ({protocol}, {len(folds)} fold(s)): labels.unknown: drop left out "
                     f"utterances with labels outside the label set; {what}")
    return lines
