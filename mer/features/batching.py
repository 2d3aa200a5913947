"""Utterance batching shared by everything that runs an extractor or a recogniser over a data dir:
the feature dumps, transcription and recognition of new recordings (one copy of the rules)."""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("dump_feats")
# Audio is read this many utterances at a time, then length-sorted into batches.
READ_CHUNK = 256


def job_utts(utts: list[str], nj: int, job: int) -> list[str]:
    return [list(part) for part in np.array_split(np.array(utts, dtype=object), nj)][job - 1]


def length_batches(items: list[tuple[str, object, float]], batch_size: int, max_seconds: float):
    """Length-sorted batches of (utt, input, seconds): similar lengths waste less padding."""
    items = sorted(items, key=lambda t: t[2])
    batch: list = []
    for it in items:
        if batch and (len(batch) >= batch_size or sum(b[2] for b in batch) + it[2] > max_seconds):
            yield batch
            batch = []
        batch.append(it)
    if batch:
        yield batch


def extract_isolated(extractor, batch, failed: dict[str, str]):
    """Run one batch; if the batch fails, retry its utterances one by one to isolate the bad one."""
    try:
        mats = extractor([b[1] for b in batch])
        results = list(zip([b[0] for b in batch], mats))
    except Exception as e:  # noqa: BLE001 - any encoder error is isolated below
        if len(batch) == 1:
            failed[batch[0][0]] = f"feature extraction failed: {e.__class__.__name__}: {e}"
            log.warning("utterance %s: %s", batch[0][0], failed[batch[0][0]])
            return []
        results = []
        for item in batch:
            results.extend(extract_isolated(extractor, [item], failed))
        return results
    good = []
    for utt, mat in results:
        mat = np.asarray(mat, dtype=np.float32)
        if mat.ndim != 2 or mat.shape[0] == 0:
            failed[utt] = f"feature extraction gave an empty matrix of shape {mat.shape}"
        elif not np.all(np.isfinite(mat)):
            failed[utt] = "feature extraction gave NaN or infinite values"
        else:
            good.append((utt, mat))
    return good
