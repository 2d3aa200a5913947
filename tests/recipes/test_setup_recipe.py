"""`egs/TEMPLATE/emo1/setup.sh` makes a recipe that runs: generated for a registered corpus (EmoDB,
its module's fake copy in the distributed layout), stages 1-6 at once, results recomputable; and for
the README's new-corpus module registered from another package, stage 1 at once."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from mer.data.corpora.registry import get_corpus
from mer.data.datadir import DataDir
from mer.pretrained import is_complete, models_dir
from tests.helpers.recipes import REPO, run_recipe, setup_recipe


pytestmark = pytest.mark.slow  # runs a whole recipe

def test_setup_makes_a_recipe_that_runs(tmp_path):
    for name in ("whisper-tiny.en", "whisper-base"):
        if not is_complete(models_dir() / name):
            pytest.skip(f"tools/models/{name} is not prepared (tools/install.sh)")
    recipe = tmp_path / "egs" / "emodb" / "audio"
    proc = subprocess.run([str(REPO / "egs/TEMPLATE/emo1/setup.sh"), str(recipe), "--corpus", "emodb"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (recipe / "emo.sh").resolve() == (REPO / "egs/TEMPLATE/emo1/emo.sh").resolve()
    subprocess.run(["shellcheck", "-x", "-S", "warning", "run.sh"], cwd=recipe, check=True,
                   env={"PATH": str(REPO / ".venv/bin") + ":/usr/bin:/bin"})
    env = {"EMODB": str(get_corpus("emodb").write_fake(tmp_path / "emodb"))}
    # the generated grid, shrunk for time: one seed, one probe (the select configs' pattern matches it),
    # Whisper base at each utterance's length (not its 30 s window), no figures (stage 6)
    feats = (recipe / "conf/feats.yaml").read_text()
    (recipe / "conf/feats_ci.yaml").write_text(feats.replace("whisper_input_seconds: 30 ", "whisper_input_seconds: utterance "))
    assert (recipe / "conf/feats_ci.yaml").read_text() != feats
    run_recipe(recipe, "--train_args", "train.epochs=2", "--seeds", "1", "--feats_config", "conf/feats_ci.yaml",
               "--probes", "sel_base_l2_c1:whisper_base:2:mean+std::C=1:fit_on=train", "--stop_stage", "5",
               env=env, timeout=1200)
    results = (recipe / "RESULTS.md").read_text()
    for row in ("train_audio_mean_train.epochs2_train.seed1", "train_audio_base_cmvn_train.epochs2_train.seed1",
                "probe_sel_base_l2_c1", "select_trained_seed1", "select_all_seed1", "select_probe"):
        # a selected row is transductive where a fold picked a CMVN candidate
        assert re.search(rf"\| {re.escape(row)}( \(transductive\))? \| loso \| 3 \|", results), row
    assert "| train_audio_base_cmvn_train.epochs2_train.seed1 (transductive) | loso | 3 |" in results
    assert "`select_trained_seed1`: settings chosen per fold on the validation speakers only" in results
    scores = json.loads((recipe / "exp/loso/select_all_seed1/scores_test.json").read_text())
    assert scores["num_folds"] == 3 and scores["complete"]
    picked = json.loads((recipe / "exp/loso/select_all_seed1/selection.json").read_text())["picked"]
    assert sorted(picked) == ["fold1", "fold2", "fold3"]
    bad = subprocess.run([str(REPO / "egs/TEMPLATE/emo1/setup.sh"), str(tmp_path / "x"), "--corpus", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown corpus 'nope'" in bad.stderr


def test_setup_makes_a_recipe_for_a_corpus_of_another_package(readme_corpus, tmp_path):  # noqa: F811
    name, site = readme_corpus
    recipe, env, out = setup_recipe(tmp_path, name, site)
    assert "protocol loso, corpus in $ACTEDEMO" in out
    corpus = get_corpus(name).write_fake(tmp_path / "corpus")
    run_recipe(recipe, "--stop_stage", "1", env={**env, "ACTEDEMO": str(corpus)})
    folds = sorted((recipe / "data/loso").glob("fold*"))
    assert [f.name for f in folds] == ["fold1", "fold2", "fold3"]
    assert DataDir.load(folds[0] / "test").speakers == ["s01"]
    assert len(DataDir.load(recipe / "data/all")) == 24
