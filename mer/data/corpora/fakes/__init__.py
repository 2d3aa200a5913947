"""Fake miniatures of the corpora as distributed, for tests: each corpus module's `write_fake`
calls the builder here when it is more than a few lines. Every builder is deterministic and
tiny, and puts in the pitfalls of the real corpus that its module's tests check."""
from __future__ import annotations

from pathlib import Path


def write_wav(path: Path, seconds: float = 0.2, rate: int = 16000, freq: float = 220.0) -> Path:
    """A 16-bit PCM sine of `freq` Hz, amplitude 0.1."""
    import numpy as np
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.1 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate, subtype="PCM_16")
    return path
