"""Settings chosen per fold on the validation speakers, end to end on the demo recipe at a tiny
setting (text only, so that no Whisper dump is made): a trained config x two seeds and a probe
fitted on train alone, a `select` combiner over them (once per seed), scored, and one result over
both seeds in RESULTS.md; with --refit true, every candidate's twin fitted on train+valid, and a
second select combiner (`refit: true`) that makes the same choice and reports the chosen one's
twin. (Several trained candidates, ties and missing decodes: the unit tests.)"""
from __future__ import annotations

import json

import pytest
import yaml

from mer.pretrained import is_complete, models_dir
from tests.helpers.recipes import copy_recipe, run_recipe

pytestmark = pytest.mark.slow  # runs a recipe

CANDIDATES = ["train_text_only", "probe_minilm"]  # probe_*: a pattern


def test_select_per_seed_through_stages_1_to_5(tmp_path):
    if not is_complete(models_dir() / "minilm"):
        pytest.skip(f"{models_dir() / 'minilm'} is not prepared: run tools/install.sh")
    recipe = copy_recipe(tmp_path, "mini/memocmt")
    feats = yaml.safe_load((recipe / "conf/feats.yaml").read_text())
    (recipe / "conf/feats_text.yaml").write_text(yaml.safe_dump({"minilm": feats["minilm"]}))
    (recipe / "conf/combine").mkdir(parents=True)
    (recipe / "conf/combine/select.yaml").write_text(
        "combiner: {name: select, candidates: [train_text_only, 'probe_*'], metric: ua}\n")
    (recipe / "conf/combine/select_refit.yaml").write_text(
        "combiner: {name: select, candidates: [train_text_only, 'probe_*'], metric: ua, refit: true}\n")
    proc = run_recipe(
        recipe, "--stop_stage", "5", "--local_data_opts", "--num_speakers 6 --utts_per_speaker 4",
        "--train_configs", "conf/tuning/train_text_only.yaml", "--train_args", "train.epochs=1", "--seeds", "1 2",
        "--test_sets", "valid test", "--probes", "minilm:minilm::mean+std::C=0.5:fit_on=train",
        "--combine_configs", "conf/combine/select.yaml conf/combine/select_refit.yaml", "--refit", "true",
        "--feats_config", "conf/feats_text.yaml", "--nj", "1",
        timeout=600)
    print(*[ln for ln in proc.stderr.splitlines() if "time per stage" in ln])
    exp = recipe / "exp/fixed"
    probe = json.loads((exp / "probe_minilm/fold1/decode_test/meta.json").read_text())
    assert probe["fit_on"] == "train" and probe["C"] == 0.5
    twin = json.loads((exp / "probe_minilm_refit/fold1/decode_test/meta.json").read_text())
    assert twin["fit_on"] == "train+valid" and twin["C"] == 0.5
    for seed in (1, 2):
        assert (exp / f"train_text_only_train.epochs1_train.seed{seed}/fold1/best.pt").is_file()
        sel = json.loads((exp / f"select_seed{seed}/fold1/selection.json").read_text())
        assert sel["selected"] in CANDIDATES and sel["selected_on"] == "valid"
        assert sorted(sel["valid_scores"]) == sorted(CANDIDATES)
        meta = json.loads((exp / f"select_seed{seed}/fold1/decode_test/meta.json").read_text())
        assert meta["selected"] == sel["selected"] and meta["config"] == f"select_seed{seed}"
        dirs = {"train_text_only": f"train_text_only_train.epochs1_train.seed{seed}", "probe_minilm": "probe_minilm"}
        for name, d in dirs.items():  # the scores it chose by are the candidates' validation scores
            assert sel["valid_scores"][name] == pytest.approx(
                json.loads((exp / d / "fold1/decode_valid/scores.json").read_text())["ua"])
        picked = exp / dirs[sel["selected"]] / "fold1/decode_test/utt2pred"
        assert (exp / f"select_seed{seed}/fold1/decode_test/utt2pred").read_text() == picked.read_text()
        twins = {"train_text_only": f"train_text_only_train.epochs1_train.fit_ontrain+valid_train.best_metriclast"
                                    f"_train.seed{seed}", "probe_minilm": "probe_minilm_refit"}
        assert (exp / twins["train_text_only"] / "fold1/train_summary.json").is_file()
        refit = json.loads((exp / f"select_refit_seed{seed}/fold1/selection.json").read_text())
        assert refit["selected"] == sel["selected"] and refit["valid_scores"] == sel["valid_scores"]
        assert refit["reported_dir"] == twins[sel["selected"]]
        for test_set, source in (("test", twins[sel["selected"]]), ("valid", dirs[sel["selected"]])):
            assert (exp / f"select_refit_seed{seed}/fold1/decode_{test_set}/utt2pred").read_text() == \
                (exp / source / f"fold1/decode_{test_set}/utt2pred").read_text()
    both = json.loads((exp / "select_seeds/scores_test.json").read_text())
    assert both["seeds"] == ["select_seed1", "select_seed2"] and len(both["folds"]) == 2
    results = (recipe / "RESULTS.md").read_text()
    assert "| select_seeds | fixed | 1 x 2 seeds |" in results
    assert "| train_text_only_train.epochs1_seeds | fixed | 1 x 2 seeds |" in results
    note = next(ln for ln in results.splitlines() if ln.startswith("`select_seed1`"))
    assert "`select_seeds`" in note and "validation speakers only" in note
    assert "select over: train_text_only, probe_*)" in note
    refit_note = next(ln for ln in results.splitlines() if ln.startswith("`select_refit_seed1`"))
    assert "fitted again on train+valid" in refit_note
    valid_table = results.split("## Test set `valid`")[1].split("## Test set")[0]
    assert "| probe_minilm_refit (fitted on it) |" in valid_table
    assert "| probe_minilm |" in valid_table and "| select_refit_seeds |" in valid_table
