"""What each utterance of a dump was made from, so that a changed entry is dumped again.

The job stamp (`split<nj>/utts`, `options.json`) says which utterances and settings a dump covers;
`split<nj>/sources.json` adds a digest per utterance of what its features were computed from:
its transcript (hf-text: DATA_DIR/text or --text-file) or its wav.scp entry and segment (audio
features). When a re-run finds an entry changed (a corrected transcript, a moved recording, a
re-cut segment), the jobs holding those utterances are marked unfinished, so the re-run dumps them
again instead of answering "all jobs already done" with the old features.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Callable

from mer.data.datadir import DataDir
from mer.utils.fileio import write_json_atomic

log = logging.getLogger("dump_feats")
SOURCES_FILE = "sources.json"
MAX_NAMED = 5  # changed utterances named in the log; the rest are counted


def _digest(value: str | None) -> str:
    return "absent" if value is None else hashlib.sha1(value.encode("utf-8")).hexdigest()[:16]


def source_digests(data: DataDir, utts: list[str], texts: dict[str, str] | None) -> dict[str, dict[str, str]]:
    """utt -> {what: digest}: {'text'} when `texts` is given (a text dump), else {'wav.scp', 'segments'}."""
    out = {}
    for utt in utts:
        if texts is not None:
            out[utt] = {"text": _digest(texts.get(utt))}
            continue
        seg = data.segments.get(utt)
        wav_key = seg.recording if seg is not None else utt
        out[utt] = {"wav.scp": _digest(data.wav_scp.get(wav_key)), "segments": _digest(str(seg) if seg else None)}
    return out


def redo_changed(split_dir: Path, utts: list[str], current: dict[str, dict[str, str]],
                 jobs: list[list[str]], done_marker: Callable[[int], Path], merged: list[Path]) -> list[int]:
    """Mark unfinished every job (1-based, `jobs[j - 1]` its utterances) holding an utterance whose
    sources differ from those recorded; record `current`. Returns the jobs marked.

    Utterances no longer in the data dir keep their record (their features stay dumped). A dump
    begun before sources were recorded gets today's, with a note: it cannot be checked."""
    path = split_dir / SOURCES_FILE
    recorded = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    if recorded is None:
        if any(done_marker(j).is_file() for j in range(1, len(jobs) + 1)):
            log.warning("%s: no record of what its finished jobs were dumped from (made by an older "
                        "version): taking the data as it is now; remove %s to be sure", split_dir.parent,
                        split_dir.parent)
        write_json_atomic(path, {u: current[u] for u in utts if u in current})
        return []
    changed = {u: [k for k, v in current[u].items() if recorded.get(u, {}).get(k) != v]
               for u in utts if u in current and u in recorded and recorded[u] != current[u]}
    redo = [j for j, part in enumerate(jobs, 1) if any(u in changed for u in part) and done_marker(j).is_file()]
    for utt in list(changed)[:MAX_NAMED]:
        log.warning("utterance %s: its %s changed since it was dumped; dumping it again",
                    utt, " and ".join(changed[utt]))
    if len(changed) > MAX_NAMED:
        log.warning("... and %d more changed utterance(s)", len(changed) - MAX_NAMED)
    if redo:
        # Nothing may read a half-refreshed dump: the merged list goes first, then the job markers;
        # the new record last, so an interruption before it finds the same changes again.
        for p in merged:
            p.unlink(missing_ok=True)
        for j in redo:
            done_marker(j).unlink()
        log.warning("%s: re-running job(s) %s for the changed utterance(s)", split_dir.parent,
                    " ".join(map(str, redo)))
    write_json_atomic(path, {**recorded, **current})
    return redo
