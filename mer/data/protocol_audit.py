"""What a protocol's folds share between their parts: the audit written beside every fold.

A number means little without knowing what the test set shares with training. Per fold this
counts the speakers, sessions (utt2session) and dialogues (utt2dialog) found in two parts, the
share of test transcripts that also occur in train (after lower-casing and stripping punctuation:
acted corpora read the same sentences in every emotion, IEMOCAP's scripts repeat across
sessions), and whether the valid set is the test set. Groups are read from the whole data dir the
folds were cut from, so a dialogue a protocol splits counts as shared even though its fold dirs
rename each part's turns.

Stage 1 (mer.data.protocol_dirs.write_protocol) writes `<protocol dir>/fold<k>/audit.json`;
make_protocol prints `summary_line` per fold, RESULTS.md `protocol_summary` per protocol. A
speaker shared by a speaker-independent protocol stops stage 1 earlier (protocols.check_folds).
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
from pathlib import Path
from typing import Mapping

from mer.data.datadir import DataDir
from mer.data.protocols import PARTS, Fold, shared_between
from mer.utils.fileio import write_json_atomic

AUDIT_FILE = "audit.json"
# (what, column of the data dir); speakers come from utt2spk, which every data dir has.
GROUPS = (("speakers", "utt2spk"), ("sessions", "utt2session"), ("dialogues", "utt2dialog"))
_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Lower case, punctuation (Unicode category P*) removed, whitespace collapsed."""
    kept = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text.lower())
    return _SPACES.sub(" ", kept).strip()


def _column(dd: DataDir, name: str) -> Mapping[str, str] | None:
    return dd.utt2spk if name == "utt2spk" else dd.extra.get(name) or None


def text_overlap(dd: DataDir, fold: Fold) -> dict:
    """How many test utterances with a transcript have one that also occurs in train."""
    train = {normalise_text(dd.text[u]) for u in fold.train if u in dd.text} - {""}
    test = [t for t in (normalise_text(dd.text.get(u, "")) for u in fold.test) if t]
    also = sum(t in train for t in test)
    return {"test_with_text": len(test), "also_in_train": also,
            "share": also / len(test) if test else None}


def audit_fold(dd: DataDir, fold: Fold) -> dict:
    """The audit of one fold of `dd` (the whole data dir the fold was cut from)."""
    shared = {}
    for what, name in GROUPS:
        column = _column(dd, name)
        if column is not None:
            shared[what] = {f"{a}-{b}": values for (a, b), values in shared_between(column, fold).items()}
    return {"parts": {p: {"utts": len(fold.part(p)), "speakers": len({dd.utt2spk[u] for u in fold.part(p)})}
                      for p in PARTS},
            "shared": shared,
            "text_in_train": text_overlap(dd, fold),
            "valid_is_test": set(fold.valid) == set(fold.test)}


def write_audits(dd: DataDir, folds: list[Fold], out_dir: str | os.PathLike, protocol: str,
                 speaker_independent: bool) -> None:
    """`out_dir/fold<k>/audit.json` for every fold, each written atomically."""
    for k, fold in enumerate(folds, 1):
        audit = {"fold": f"fold{k}", "protocol": protocol, "speaker_independent": speaker_independent,
                 **audit_fold(dd, fold)}
        write_json_atomic(Path(out_dir) / f"fold{k}" / AUDIT_FILE, audit)


def load_audits(protocol_dir: str | os.PathLike) -> dict[str, dict]:
    """fold name -> its audit, folds in numeric order; folds without audit.json are left out."""
    found = []
    for path in Path(protocol_dir).glob(f"fold*/{AUDIT_FILE}"):
        if path.parent.name[4:].isdigit():
            found.append((int(path.parent.name[4:]), path))
    out = {}
    for _, path in sorted(found):
        try:
            out[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from e
    return out


def _pct(share: float | None) -> str:
    return "no transcripts" if share is None else f"{100 * share:.1f} %"


def _distinct(pairs: Mapping[str, list[str]]) -> int:
    """How many groups are in two parts at all (a speaker in all three counts once)."""
    return len({v for values in pairs.values() for v in values})


def _shared_counts(audit: dict) -> str:
    """`speakers 0, sessions 1 (train-valid 1), ...`: distinct groups in two parts, by pair."""
    out = []
    for what, pairs in audit["shared"].items():
        n = _distinct(pairs)
        by_pair = ", ".join(f"{pair} {len(values)}" for pair, values in pairs.items() if values)
        out.append(f"{what} {n}" + (f" ({by_pair})" if by_pair else ""))
    return ", ".join(out)


def summary_line(audit: dict) -> str:
    """One line for the console: what the fold's parts share."""
    text = audit["text_in_train"]
    overlap = _pct(text["share"]) + (f" ({text['also_in_train']}/{text['test_with_text']})"
                                     if text["share"] is not None else "")
    return (f"{audit['fold']}: shared {_shared_counts(audit)}; test transcripts also in train "
            f"{overlap}; valid {'IS' if audit['valid_is_test'] else 'is not'} test")


def protocol_summary(audits: Mapping[str, dict]) -> str:
    """One line over all folds of a protocol, for RESULTS.md."""
    first = next(iter(audits.values()))
    several = len(audits) > 1
    parts = []
    for what in first["shared"]:
        most = max(_distinct(a["shared"][what]) for a in audits.values())
        by_pair = ", ".join(f"{pair} {n}" for pair in first["shared"][what]
                            if (n := max(len(a["shared"][what][pair]) for a in audits.values())))
        if not most:
            parts.append(f"shared {what} 0" + (" in every fold" if several else ""))
        else:
            parts.append(f"shared {what} {'up to ' if several else ''}{most}{' per fold' if several else ''} "
                         f"({by_pair})")
    with_text = sum(a["text_in_train"]["test_with_text"] for a in audits.values())
    also = sum(a["text_in_train"]["also_in_train"] for a in audits.values())
    parts.append("test transcripts also in train " + (_pct(also / with_text) if with_text else _pct(None)))
    valid_is_test = [name for name, a in audits.items() if a["valid_is_test"]]
    parts.append(f"valid IS test ({', '.join(valid_is_test)})" if valid_is_test else "valid is not test")
    kind = "speaker-independent" if first.get("speaker_independent") else "not speaker-independent"
    return f"{len(audits)} fold(s), {kind}: " + "; ".join(parts)
