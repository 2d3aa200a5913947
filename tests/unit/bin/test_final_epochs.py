"""The epochs of a final model: the median over folds of the epoch each fold kept."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mer.bin.final_epochs import final_epochs, kept_epoch
from tests.helpers import REPO


def write_summary(d, best, epochs_run):
    d.mkdir(parents=True)
    (d / "train_summary.json").write_text(json.dumps({"best": best, "epochs_run": epochs_run}))


def test_kept_epoch_is_the_best_or_the_last_when_nothing_was_chosen():
    assert kept_epoch({"best": {"metric": "ua", "value": 0.5, "epoch": 7}, "epochs_run": 12}) == 7
    assert kept_epoch({"best": {"metric": "last", "value": 0.5, "epoch": 12}, "epochs_run": 12}) == 12
    assert kept_epoch({"best": None, "epochs_run": 3}) == 3


def test_median_over_folds_and_the_cli(tmp_path):
    for k, (epoch, run) in enumerate([(4, 10), (9, 10), (6, 10)], 1):
        write_summary(tmp_path / f"fold{k}", {"metric": "ua", "value": 0.1, "epoch": epoch}, run)
    (tmp_path / "fold4").mkdir()  # a fold still training: no summary, not counted
    assert final_epochs(tmp_path) == (6, {"fold1": 4, "fold2": 9, "fold3": 6})
    proc = subprocess.run([sys.executable, "-m", "mer.bin.final_epochs", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "6" and "fold2 9" in proc.stderr


def test_no_finished_fold_is_an_error_naming_the_dir(tmp_path):
    with pytest.raises(ValueError, match="no fold has finished training"):
        final_epochs(tmp_path)
