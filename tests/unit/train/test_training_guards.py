"""Training refuses to report nonsense: non-finite losses, empty sets, unknown or mistyped config
keys, a second trainer on one exp dir, unreadable checkpoints."""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import torch

from mer.train.config import load_config
from mer.utils.lock import DirLock, LockHeld
from tests.helpers.training import ENV, run, train_cmd
from tests.helpers.training import make_corpus, write_config


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("guards"), num_speakers=4, utts_per_speaker=8)


def failing(cmd):
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    assert proc.returncode != 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.stderr


@pytest.mark.slow
def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(corpus, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", epochs=2)
    run(train_cmd(corpus, cfg, "exp/nan"))
    good = torch.load(corpus / "exp/nan/checkpoint.pt", weights_only=True)
    err = failing(train_cmd(corpus, cfg, "exp/nan", "--override", "train.epochs=4", "--override", "optim.lr=1.0e+12"))
    assert "non-finite training loss at epoch 3" in err and "checkpoint.pt keeps the last good epoch" in err
    kept = torch.load(corpus / "exp/nan/checkpoint.pt", weights_only=True)
    assert kept["epoch"] == good["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in kept["model"].values() if v.is_floating_point())
    assert not (corpus / "exp/nan/train_summary.json").read_text().count('"epochs_run": 4')


@pytest.mark.slow
def test_empty_training_set_is_refused(corpus, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", extra="labels: {classes: [xxx]}\n")
    err = failing(train_cmd(corpus, cfg, "exp/empty"))
    assert "has no utterance inside the label set" in err


@pytest.mark.parametrize("override, message", [
    ("train.epoch=2", "unknown key train.epoch; allowed:"),
    ("train.bucketing='no'", "train.bucketing must be bool, got 'no'"),
    ("optim.lr=abc", "optim.lr must be float, got 'abc'"),
    ("model.dimm=3", "unknown key model.dimm"),
    ("model.dim=x", "model.dim must be int | null"),
    ("train.unit=dialog", "train.unit must be 'utterance' | 'dialogue'"),
])
@pytest.mark.slow
def test_config_keys_and_types_are_checked(corpus, tmp_path, override, message):
    cfg = write_config(tmp_path / "c.yaml")
    err = failing(train_cmd(corpus, cfg, "exp/cfg", "--override", override))
    assert message in err and str(cfg) in err


def test_yaml_11_number_strings_are_numbers(tmp_path):
    cfg = write_config(tmp_path / "c.yaml")
    cfg.write_text(cfg.read_text().replace("lr: 3.0e-3", "lr: 3e-3"))  # YAML 1.1 reads this as a string
    assert load_config(cfg)["optim"]["lr"] == pytest.approx(3e-3)


@pytest.mark.slow
def test_one_trainer_per_exp_dir(corpus, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", epochs=1)
    exp = corpus / "exp/locked"
    with DirLock(exp, "test holder"):  # held by this (live) process
        err = failing(train_cmd(corpus, cfg, "exp/locked"))
        assert f"pid {os.getpid()}" in err and "being written by another process" in err
    # a lock left by a process that has died is taken over, and that is said
    dead = subprocess.Popen(["true"])
    dead.wait()
    (exp / ".lock").write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "since": "then"}))
    proc = run(train_cmd(corpus, cfg, "exp/locked"))
    assert "taking over the lock" in proc.stderr and not (exp / ".lock").exists()
    with pytest.raises(LockHeld):
        with DirLock(exp, "a"):
            DirLock(exp, "b").acquire()


@pytest.mark.slow
def test_unreadable_checkpoint_is_named(corpus, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", epochs=1)
    run(train_cmd(corpus, cfg, "exp/trunc"))
    ckpt = corpus / "exp/trunc/checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    err = failing(train_cmd(corpus, cfg, "exp/trunc", "--override", "train.epochs=2"))
    assert f"{ckpt}: cannot be read to resume" in err


@pytest.mark.slow
def test_single_class_validation_set_warns(corpus, tmp_path):
    from mer.data.datadir import DataDir

    valid = DataDir.load(corpus / "data/valid")
    one = valid.filter(lambda u: valid.utt2emo[u] == "ang")
    one.save(tmp_path / "valid")
    cmd = train_cmd(corpus, write_config(tmp_path / "c.yaml", epochs=1), "exp/oneclass")
    cmd[cmd.index("--valid-dir") + 1] = str(tmp_path / "valid")
    proc = run(cmd)
    assert "has no utterance of class(es) ['hap', 'neu', 'sad']" in proc.stderr


@pytest.mark.slow
def test_progress_within_an_epoch_is_logged(corpus, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", epochs=1, batch_size=4)
    proc = run(train_cmd(corpus, cfg, "exp/progress", "--override", "train.log_interval_seconds=1.0e-6"))
    assert "epoch 1: batch 1/4," in proc.stderr and "utt/s" in proc.stderr and "s left" in proc.stderr
