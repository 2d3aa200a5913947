"""Long audio in consecutive windows: one rule for the feature dumps and for recognition.

A speech encoder that sees a bounded stretch of audio at once declares its `audio_window` (a
`Window`). `encode_in_windows` cuts every input longer than that into consecutive windows, batches
the windows of all inputs as it would batch utterances (`length_batches`: batch size and summed
seconds capped, so memory stays flat however long a recording is), runs each batch with its failures
isolated (`extract_isolated`) and joins each utterance's frames in order. Extractors without an
`audio_window` (text encoders, fbank and the other signal features, whose cost is linear in
length) get each input whole.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from mer.features.batching import extract_isolated, length_batches

log = logging.getLogger("dump_feats")
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Window:
    """Windows of `step` samples, each reaching `overlap` samples into the next so that the frames
    of consecutive windows are exactly the frames of the whole recording (a convolutional front end
    with receptive field F and stride S needs F - S). A window needs `min_samples` to give one frame;
    `receptive_field` (samples) is what one output frame sees."""

    step: int
    overlap: int = 0
    min_samples: int = 1
    receptive_field: int = 1

    def spans(self, n_samples: int) -> list[tuple[int, int]]:
        """(start, end) of each window of a recording of n_samples. A tail shorter than min_samples
        is left out: it holds no frame of the whole recording either."""
        out = []
        for start in range(0, n_samples, self.step):
            end = min(start + self.step + self.overlap, n_samples)
            if end - start >= self.min_samples:
                out.append((start, end))
        return out


def encode_in_windows(extractor, items: list[tuple[str, object, float]], batch_size: int, max_seconds: float,
                      failed: dict[str, str]) -> Iterator[tuple[str, np.ndarray]]:
    """(utt, frames x dim) for each item (utt, input, seconds) that could be encoded, as soon as all
    its windows are; the others go to `failed` (utt -> reason naming the window at fault)."""
    window = getattr(extractor, "audio_window", None)
    pieces, owner, remaining = [], {}, {}
    for utt, x, seconds in items:
        spans = window.spans(len(x)) if window is not None else [(0, None)]
        if not spans:
            failed[utt] = (f"{len(x) / SAMPLE_RATE:.3f} s of audio is shorter than the encoder's receptive field "
                           f"({window.receptive_field / SAMPLE_RATE:.3f} s): it gives no frame")
            log.warning("utterance %s: %s", utt, failed[utt])
            continue
        remaining[utt] = len(spans)
        for i, (start, end) in enumerate(spans):
            key = utt if len(spans) == 1 else (f"{utt} window {i + 1} of {len(spans)} "
                                               f"({start / SAMPLE_RATE:.2f}-{end / SAMPLE_RATE:.2f} s)")
            owner[key] = (utt, i)
            pieces.append((key, x if end is None else x[start:end],
                           seconds if end is None else (end - start) / SAMPLE_RATE))
    frames: dict[str, dict[int, np.ndarray]] = {}
    piece_failed: dict[str, str] = {}
    for batch in length_batches(pieces, batch_size, max_seconds):
        for key, mat in extract_isolated(extractor, batch, piece_failed):
            utt, i = owner[key]
            if utt in failed:
                continue
            frames.setdefault(utt, {})[i] = mat
            if len(frames[utt]) == remaining[utt]:
                parts = frames.pop(utt)
                yield utt, parts[0] if len(parts) == 1 else np.concatenate([parts[j] for j in range(len(parts))])
        for key, reason in piece_failed.items():
            utt = owner[key][0]
            if utt not in failed:
                failed[utt] = reason if key == utt else f"{key[len(utt) + 1:]}: {reason}"
                frames.pop(utt, None)
        piece_failed.clear()
