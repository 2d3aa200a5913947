"""A corpus's protocol by name, and its folds written as data dirs.

`write_protocol(corpus, protocol, data_dir, out_dir)` writes `<out>/fold<k>/{train,valid,test}` (each a
complete data dir) with `fold<k>/audit.json` (what its parts share, mer.data.protocol_audit),
`<out>/README` saying how they were made, and a `.done` marker holding the input's
fingerprint: a rerun on unchanged input returns at once, on changed input (or another seed) rebuilds.
The protocols themselves and their building blocks are in mer.data.protocols; the corpora that
declare them in mer.data.corpora.registry.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Sequence

from mer.data.corpora.registry import UnknownCorpus, get_corpus
from mer.data.datadir import DataDir
from mer.data.kaldi_io import c_sort_key
from mer.data.protocol_audit import AUDIT_FILE, write_audits
from mer.data.protocols import MARKER, PARTS, Fold, Protocol, ProtocolError, check_folds, official, split_column
from mer.utils.fileio import write_text_atomic


def get_protocol(corpus: str, protocol: str) -> Protocol:
    """The named protocol of `corpus` (a registered corpus); `default` names the corpus's default."""
    try:
        return get_corpus(corpus).protocol(protocol)
    except UnknownCorpus as e:
        raise ProtocolError(str(e)) from None


def speaker_independent(corpus: str, protocol: str) -> bool:
    """Whether no speaker of a fold's test (or valid) part is in another part of that fold."""
    return get_protocol(corpus, protocol).speaker_independent



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
                if not all((d / AUDIT_FILE).is_file() for d in out.glob("fold*") if d.is_dir()):
                    # Folds made before the audit: the same folds again (same input and seed), audited.
                    write_audits(dd, proto.make(dd, seed), out, proto.name, proto.speaker_independent)
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
    # The label set, and the empty transcripts corpus preparation allowed (validation reads both).
    whole_dir = [data_dir / name for name in ("labels", "text_missing") if (data_dir / name).is_file()]
    for k, fold in enumerate(folds, 1):
        for part in PARTS:
            target = out / f"fold{k}" / part
            sub = dd.subset(fold.part(part))
            if proto.splits_dialogues and "utt2dialog" in sub.extra:
                sub.extra["utt2dialog"] = {u: f"{d}-{part}" for u, d in sub.extra["utt2dialog"].items()}
            sub.save(target)
            for path in whole_dir:
                shutil.copyfile(path, target / path.name)
    if labels.is_file():
        shutil.copyfile(labels, out / "labels")
    write_audits(dd, folds, out, proto.name, proto.speaker_independent)
    write_text_atomic(out / "README", _readme(corpus, proto, dd, folds, str(data_dir), seed, command, others))
    write_text_atomic(marker, json.dumps(stamp, indent=1) + "\n")
    return True
