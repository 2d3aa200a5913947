"""`egs/TEMPLATE/emo1/setup.sh` makes a recipe that runs: generated for a known corpus (EmoDB, as
a fake miniature in its distributed layout), stages 1-6 at once, results recomputable."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mer.pretrained import is_complete, models_dir
from tests.recipe_fixtures import REPO, run_recipe

EMOTIONS = "WLEAFTN"


def fake_emodb(root: Path) -> Path:
    """3 speakers x 7 emotions x 3 takes of half a second; the emotion sets the pitch."""
    rng = np.random.default_rng(0)
    for spk in ("03", "08", "09"):
        for k, emo in enumerate(EMOTIONS):
            for take, text in zip("abc", ("a01", "a02", "b01")):
                t = np.arange(8000) / 16000
                wave = 0.3 * np.sin(2 * np.pi * (150 + 60 * k) * t) + 0.01 * rng.normal(size=t.shape)
                path = root / "wav" / f"{spk}{text}{emo}{take}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, wave.astype("f4"), 16000)
    return root


def test_setup_makes_a_recipe_that_runs(tmp_path):
    if not is_complete(models_dir() / "whisper-tiny.en"):
        pytest.skip("tools/models/whisper-tiny.en is not prepared (tools/install.sh)")
    recipe = tmp_path / "egs" / "emodb" / "audio"
    proc = subprocess.run([str(REPO / "egs/TEMPLATE/emo1/setup.sh"), str(recipe), "--corpus", "emodb"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (recipe / "emo.sh").resolve() == (REPO / "egs/TEMPLATE/emo1/emo.sh").resolve()
    subprocess.run(["shellcheck", "-x", "-S", "warning", "run.sh", "local/data.sh"], cwd=recipe, check=True,
                   env={"PATH": str(REPO / ".venv/bin") + ":/usr/bin:/bin"})
    env = {"EMODB": str(fake_emodb(tmp_path / "emodb"))}
    run_recipe(recipe, "--train_args", "train.epochs=2", env=env, timeout=1200)
    results = (recipe / "RESULTS.md").read_text()
    for row in ("train_audio_mean_train.epochs2", "probe_whisper_l2", "probe_logmel"):
        assert f"| {row} | loso | 3 |" in results, row
    scores = json.loads((recipe / "exp/loso/train_audio_mean_train.epochs2/scores_test.json").read_text())
    assert scores["num_folds"] == 3 and scores["complete"]
    bad = subprocess.run([str(REPO / "egs/TEMPLATE/emo1/setup.sh"), str(tmp_path / "x"), "--corpus", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown corpus 'nope'" in bad.stderr
