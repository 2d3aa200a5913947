"""Label maps: one set of data dirs, several label sets (neutral vs emotional, a 3-class subset, ...).

Config block (every key optional):

    labels:
      map: {ang: emotional, hap: emotional, sad: emotional, neu: neutral}  # applied first
      classes: [neutral, emotional]   # the output classes, in order (default: the mapped label set)
      unknown: error                  # error | drop: a label outside the recipe's label set (below)

A label that is not mapped passes through unchanged. An utterance whose (mapped) label is not one
of `classes` is outside the label set: training on single utterances leaves it out, a dialogue
keeps it as context with zero loss weight, inference still decodes it (a combiner may need it) and
scoring skips it.

That is a choice the config makes about labels the recipe knows. A label the recipe does not know
(not in its label set, not mapped, not a class: `Ang` typed for `ang`, a stray `bored`) is a
mistake, not a choice: `mer.train.label_check` stops training on it, naming file, line and label,
or with `unknown: drop` leaves its utterances out and counts them per label.
"""
from __future__ import annotations

UNKNOWN_POLICIES = ("error", "drop")


class LabelMap:
    def __init__(self, conf: dict | None, base_labels: list[str]):
        conf = conf or {}
        bad_keys = set(conf) - {"map", "classes", "unknown"}
        if bad_keys:
            raise ValueError(f"config: labels: unknown key(s) {sorted(bad_keys)}; allowed: classes, map, unknown")
        self.unknown = conf.get("unknown") or "error"
        if self.unknown not in UNKNOWN_POLICIES:
            raise ValueError(f"config: labels.unknown is '{self.unknown}'; allowed: {', '.join(UNKNOWN_POLICIES)}")
        self.map = {str(k): str(v) for k, v in (conf.get("map") or {}).items()}
        classes = conf.get("classes")
        if classes is None:
            classes = list(dict.fromkeys(self.map.get(lab, lab) for lab in base_labels))
        self.classes = [str(c) for c in classes]
        if not self.classes:
            raise ValueError("config: labels: the label set is empty")
        dupes = sorted({c for c in self.classes if self.classes.count(c) > 1})
        if dupes:
            raise ValueError(f"config: labels.classes repeats {dupes}")
        self._index = {c: i for i, c in enumerate(self.classes)}
        # Raw labels the recipe knows: its label set, the labels the map renames, the classes.
        self.known = frozenset(base_labels) | self.map.keys() | frozenset(self.classes)

    def mapped(self, raw: str | None) -> str | None:
        return None if raw is None else self.map.get(raw, raw)

    def index(self, raw: str | None) -> int:
        """Class index of a raw label; -1 when unlabelled or outside the label set."""
        return self._index.get(self.mapped(raw), -1) if raw is not None else -1

    def __len__(self) -> int:
        return len(self.classes)
