"""How a dump stores its values: float32, or float16 for half the disk.

Kaldi's binary matrices have no half-precision type (kaldiio writes FM/DM matrices and its
compressed CM/CM2/CM3 ones; it refuses a float16 array), so a float16 dump stores each utterance as
a NumPy array inside the ark, which kaldiio also writes and reads (`write_function="numpy"`): the
same ark/scp layout, read back through `kaldiio.load_scp`, but not by Kaldi's own C++ tools. Those
read `--compress 3` (Kaldi's 2-byte compression, a linear code over each matrix's range) instead.
Readers (mer.inputs.FeatureDump) turn every dump into float32, so training sees float32 either way.
"""
from __future__ import annotations

import numpy as np

DTYPES = ("float32", "float16")
FLOAT16_MAX = float(np.finfo(np.float16).max)
# Bytes per value of kaldiio's compression methods (1: automatic, 1 byte per value for long matrices).
COMPRESSED_BYTES = {1: 1, 2: 1, 3: 2, 4: 2, 5: 1, 6: 1, 7: 1}


def check_dtype(dtype: str, compress: int) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
    if dtype != "float32" and compress:
        raise ValueError(f"--dtype {dtype} and --compress {compress} both shrink the values: choose one")


def writer_options(dtype: str, compress: int) -> dict:
    """Keyword arguments of kaldiio.WriteHelper that store matrices as `dtype` (or compressed)."""
    if dtype == "float16":
        return {"write_function": "numpy"}
    return {"compression_method": compress or None}


def to_stored(mat: np.ndarray, dtype: str, utt: str) -> np.ndarray:
    """`mat` as the dump stores it; ValueError naming the utterance when float16 cannot hold it."""
    if dtype == "float32":
        return mat
    peak = float(np.max(np.abs(mat))) if mat.size else 0.0
    if peak > FLOAT16_MAX:
        raise ValueError(f"utterance {utt}: a value of magnitude {peak:.4g} exceeds float16's range "
                         f"({FLOAT16_MAX:g}); dump it with --dtype float32")
    return mat.astype(np.float16)


def bytes_per_value(dtype: str, compress: int) -> int:
    if compress:
        return COMPRESSED_BYTES.get(compress, 4)
    return np.dtype(dtype).itemsize
