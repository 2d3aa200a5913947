"""A fake CMU-MOSEI: the SDK's label file (HDF5, rows not in clip order, a negative start, ties,
all-zero rows, a row without a transcript clip), segmented transcripts (CRLF, `_____` in the text),
full-video 16 kHz wavs, video ids that are numeric or start with '-', a video in no standard
fold, one without a transcript, a plain one, and the standard folds as JSON beside the corpus."""
from __future__ import annotations

import json
from pathlib import Path

SR = 16000
NUM = "81406"             # purely numeric video id
DASH = "-3g5yACwYnA"      # video id starting with '-'
NOFOLD = "Zx_9nofoldQ"    # labelled video in no standard fold
NOTRANS = "noTranscrpt"   # labelled video whose transcript file is missing
VALID = "aValidVid01"     # a plain video in the valid fold (so every part of the standard folds has one)

# (start, end, [sentiment, happy, sad, anger, surprise, disgust, fear]) in CSD row order, which is
# not the clip order.
CSD = {
    NUM: [
        (3.0, 5.0, [1.0, 1.0, 0.333, 0, 0, 0, 0]),          # clip 1: happy (sad also > 0)
        (-0.48, 2.5, [-1.0, 0, 0.667, 0, 0, 0, 0]),          # clip 0: negative start, sad
        (4.5, 7.0, [0.0, 1.0, 0, 1.0, 0, 0, 0]),             # clip 2: tie happy/anger; overlaps clip 1
        (8.0, 9.0, [0.0, 0, 0, 0, 0, 0, 0]),                 # clip 3: all zero
        (10.0, 11.0, [0.0, 0, 0, 0.333, 0, 0, 0]),           # no transcript clip
    ],
    DASH: [
        (0.0, 1.5, [0.0, 0, 0, 0, 0, 0, 0.333]),             # clip 0: fear
        (1.5, 3.02, [0.0, 0, 0, 0, 2.0, 0.333, 0]),          # clip 1: surprise; ends past the audio
    ],
    NOFOLD: [(0.0, 1.0, [0.0, 1.0, 0, 0, 0, 0, 0])],
    NOTRANS: [(0.0, 1.0, [0.0, 0, 1.0, 0, 0, 0, 0])],
    VALID: [(0.0, 2.0, [0.0, 0, 0, 0.667, 0, 0, 0])],     # anger
}
# Transcript times differ from the labels by up to 0.02 s (within the 0.05 s tolerance).
TRANSCRIPTS = {
    NUM: [(0, -0.47, 2.5, "well i think"), (1, 3.0, 5.01, "it was great _____ really"),
          (2, 4.5, 7.0, "but the ending"), (3, 8.0, 9.0, "anyway"), (4, 12.0, 13.0, "no label here")],
    DASH: [(0, 0.0, 1.5, "oh no"), (1, 1.52, 3.02, "wow")],
    NOFOLD: [(0, 0.0, 1.0, "hello")],
    VALID: [(0, 0.0, 2.0, "i am so angry")],
}
AUDIO_SECONDS = {NUM: 15.0, DASH: 3.0, NOFOLD: 1.0, VALID: 2.0}
FOLDS = {"train": [NUM, "unusedVid01"], "valid": [NOTRANS, VALID], "test": [DASH]}


def write_fake(root: Path) -> Path:
    """`root/CMU_MOSEI` (returned) and the folds file `root/mosei_folds.json`."""
    import h5py
    import numpy as np
    import soundfile as sf

    root = root / "CMU_MOSEI"
    labels_dir = root / "labels"
    labels_dir.mkdir(parents=True)
    with h5py.File(labels_dir / "CMU_MOSEI_Labels.csd", "w") as f:
        top = f.create_group("All Labels")
        data = top.create_group("data")
        for vid, rows in CSD.items():
            g = data.create_group(vid)
            g.create_dataset("intervals", data=np.array([[s, e] for s, e, _ in rows], dtype=np.float64))
            g.create_dataset("features", data=np.array([v for _, _, v in rows], dtype=np.float32))
        meta = top.create_group("metadata")
        ds = meta.create_dataset("dimension names", (1,), dtype=h5py.special_dtype(vlen=str))
        ds[0] = json.dumps(["sentiment", "happy", "sad", "anger", "surprise", "disgust", "fear"])
    tdir = root / "Raw" / "Transcript" / "Segmented" / "Combined"
    tdir.mkdir(parents=True)
    for vid, clips in TRANSCRIPTS.items():
        (tdir / f"{vid}.txt").write_text("".join(f"{vid}___{c}___{s}___{e}___{t}\r\n" for c, s, e, t in clips))
    adir = root / "Raw" / "Audio" / "Full" / "WAV_16000"
    adir.mkdir(parents=True)
    for vid, secs in AUDIO_SECONDS.items():
        t = np.arange(int(secs * SR)) / SR
        sf.write(adir / f"{vid}.wav", 0.3 * np.sin(2 * np.pi * 220 * t), SR, subtype="PCM_16")
    (root.parent / "mosei_folds.json").write_text(json.dumps(FOLDS))
    return root
