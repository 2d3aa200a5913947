"""Integrity of what runs read back: checkpoints that cannot run code, damaged dumps, pack members,
concurrent stage-3 runs."""
from __future__ import annotations

import random
import subprocess

import numpy as np
import pytest
import torch

from mer.train.checkpoint import CheckpointError, load_checkpoint, pack_rng, save_checkpoint, unpack_rng
from tests.test_train import ENV, run, train_cmd
from tests.train_fixtures import make_corpus, write_config


class CreatesAFile:
    """Pickled, it calls open(path, 'w') when unpickled: a stand-in for any code in a pickle."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("integrity"), num_speakers=4, utts_per_speaker=6)


# ------------------------------------------------------------------ checkpoints

def test_resuming_a_checkpoint_that_runs_code_is_refused(corpus, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", epochs=1)
    run(train_cmd(corpus, cfg, "exp/evil"))
    ckpt = corpus / "exp/evil/checkpoint.pt"
    state = torch.load(ckpt, weights_only=True)  # what training writes loads safely
    marker = tmp_path / "created_by_the_checkpoint"
    state["history"].append(CreatesAFile(marker))
    with open(ckpt, "wb") as f:
        torch.save(state, f)
    proc = subprocess.run(train_cmd(corpus, cfg, "exp/evil", "--override", "train.epochs=2"), env=ENV,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"{ckpt}: refused" in proc.stderr and "io.open" in proc.stderr, proc.stderr[-2000:]
    assert not marker.exists()


def test_best_pt_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "created"
    path = tmp_path / "best.pt"
    torch.save({"model": {}, "epoch": CreatesAFile(marker)}, path)
    with pytest.raises(CheckpointError, match=f"{path}: refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_random_states_survive_a_safe_round_trip(tmp_path):
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    np.random.normal()  # leaves a cached gauss in NumPy's legacy state
    save_checkpoint({"rng": pack_rng(), "value": np.float64(0.5)}, tmp_path / "c.pt")
    expected = (random.random(), np.random.normal(), np.random.randint(1 << 30), torch.rand(3))
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    state = load_checkpoint(tmp_path / "c.pt")
    assert type(state["value"]) is float
    unpack_rng(state["rng"])
    got = (random.random(), np.random.normal(), np.random.randint(1 << 30), torch.rand(3))
    assert got[:3] == expected[:3] and torch.equal(got[3], expected[3])


def test_checkpoint_of_the_old_format_still_resumes(tmp_path):
    """Written before: NumPy's legacy state tuple and a NumPy scalar, pickled as NumPy objects."""
    np.random.seed(7)
    old = {"rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
           "best": {"value": np.float64(0.25)}}
    torch.save(old, tmp_path / "old.pt")
    expected = np.random.randint(1 << 30, size=4)
    np.random.seed(0)
    state = load_checkpoint(tmp_path / "old.pt")
    unpack_rng(state["rng"])
    assert np.array_equal(np.random.randint(1 << 30, size=4), expected)
    assert state["best"]["value"] == 0.25
