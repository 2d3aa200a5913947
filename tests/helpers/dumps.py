"""Running the feature dumper as a user does and reading what it wrote."""
from __future__ import annotations

import os
from pathlib import Path

import kaldiio
import numpy as np

from mer.data.kaldi_io import read_kv
from tests.helpers import REPO


def cli_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MER_CMD"}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


def load_feats(out: Path) -> dict[str, np.ndarray]:
    feats = {k: np.asarray(v) for k, v in kaldiio.load_scp(str(out / "feats.scp")).items()}
    frames = read_kv(out / "utt2num_frames") if (out / "utt2num_frames").stat().st_size else {}
    assert set(frames) == set(feats)
    for utt, mat in feats.items():
        assert mat.ndim == 2 and mat.dtype == np.float32 and np.all(np.isfinite(mat)), utt
        assert int(frames[utt]) == mat.shape[0], utt
    keys = [ln.split()[0] for ln in (out / "feats.scp").read_text().splitlines()]
    assert keys == sorted(keys, key=lambda k: k.encode()), "feats.scp is not C-sorted"
    return feats


def read_failed(out: Path) -> dict[str, str]:
    lines = (out / "failed").read_text(encoding="utf-8").splitlines()
    assert all("\t" in ln for ln in lines), lines
    return dict(ln.split("\t", 1) for ln in lines)
