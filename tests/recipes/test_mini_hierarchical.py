"""System C's demo recipe (egs/mini/hierarchical) end to end at a tiny setting: acoustic features
and MiniLM (no Whisper dump, to stay fast), every stage, the hierarchy recomputed from its parts."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mer.pretrained import is_complete, models_dir
from mer.metrics import score
from tests.helpers.recipes import copy_recipe, run_recipe

pytestmark = pytest.mark.slow  # runs a whole recipe

CONFIGS = ["conf/tuning/train_text.yaml", "conf/tuning/train_acoustic_gate.yaml",
           "conf/tuning/train_acoustic_emotion.yaml"]
COMBINE = ["conf/combine/hier_acoustic_speech.yaml", "conf/combine/hier_acoustic_text_argmax.yaml",
           "conf/combine/hier_acoustic_text.yaml"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    if not is_complete(models_dir() / "minilm"):
        pytest.skip(f"{models_dir() / 'minilm'} is not prepared: run tools/install.sh")
    recipe = copy_recipe(tmp_path_factory.mktemp("mini_hier"), "mini/hierarchical")
    feats = (recipe / "conf/feats.yaml").read_text()
    (recipe / "conf/feats_ci.yaml").write_text(feats[feats.index("mfcc39:"):])  # all but Whisper
    for conf in CONFIGS:  # fewer epochs, same tags (the combiners name the systems by tag)
        path = recipe / conf
        path.write_text(path.read_text().replace("epochs: 40", "epochs: 10").replace("epochs: 12", "epochs: 4"))
    # Stages 1-5 (the combiner draws its own neutral precision-recall plot in stage 4).
    run_recipe(recipe, "--local_data_opts", "--utts_per_speaker 8", "--feats_config", "conf/feats_ci.yaml",
               "--train_configs", " ".join(CONFIGS), "--combine_configs", " ".join(COMBINE), "--stop_stage", "5",
               timeout=900)
    return recipe


def _kv(path: Path) -> dict[str, str]:
    return dict(ln.split(maxsplit=1) for ln in path.read_text().splitlines())


def test_models_decode_every_utterance_and_the_hierarchy_follows_its_rule(demo):
    exp = demo / "exp/fixed"
    report = json.loads((exp / "hier_acoustic_text/fold1/hierarchy.json").read_text())
    t = report["threshold"]
    assert t in (0.25, 0.30, 0.35, 0.40) and report["selection"]["set"] == "valid"
    for test_set in ("valid", "test"):
        ref = _kv(demo / f"data/fixed/fold1/{test_set}/utt2emo")
        gate = _kv(exp / f"train_acoustic_gate/fold1/decode_{test_set}/utt2pred")
        emo = _kv(exp / f"train_acoustic_emotion/fold1/decode_{test_set}/utt2pred")
        text_dir = exp / f"train_text/fold1/decode_{test_set}"
        text = _kv(text_dir / "utt2pred")
        assert set(gate) == set(emo) == set(text) == set(ref)  # Model 2 decodes neutral ones too
        import kaldiio

        classes = (text_dir / "classes").read_text().split()
        p_neu = {u: float(np.float32(v[classes.index("neu")]))
                 for u, v in kaldiio.load_scp(str(text_dir / "posteriors.scp")).items()}
        expected = {u: emo[u] if gate[u] == "emo" else ("neu" if np.float32(p_neu[u]) >= np.float32(t) else text[u])
                    for u in ref}
        assert _kv(exp / f"hier_acoustic_text/fold1/decode_{test_set}/utt2pred") == expected
        speech = {u: emo[u] if gate[u] == "emo" else "neu" for u in ref}
        assert _kv(exp / f"hier_acoustic_speech/fold1/decode_{test_set}/utt2pred") == speech
        argmax = {u: emo[u] if gate[u] == "emo" else text[u] for u in ref}
        assert _kv(exp / f"hier_acoustic_text_argmax/fold1/decode_{test_set}/utt2pred") == argmax


def test_results_and_reports(demo):
    results = (demo / "RESULTS.md").read_text()
    for tag in ("train_acoustic_gate", "hier_acoustic_speech", "hier_acoustic_text", "hier_acoustic_text_argmax"):
        assert sum(f"| {tag} |" in ln for ln in results.splitlines()) == 4  # valid + test, mean + pooled
    for decode in (demo / "exp/fixed").glob("*/fold1/decode_test"):
        pred, ref = _kv(decode / "utt2pred"), _kv(decode / "utt2emo")
        labels = (decode / "classes").read_text().split()
        utts = [u for u in sorted(ref) if ref[u] in labels]
        again = score([ref[u] for u in utts], [pred[u] for u in utts], labels=labels)
        saved = json.loads((decode / "scores.json").read_text())
        assert abs(again["ua"] - saved["ua"]) < 1e-9 and abs(again["wa"] - saved["wa"]) < 1e-9
    md = (demo / "HIERARCHY.md").read_text()
    assert "| speech-only |" in md and "| 0.40 |" in md and "Corrected by text" in md
    assert (demo / "exp/fixed/hier_acoustic_text/plots/neutral_pr_test.png").is_file()
    info = json.loads((demo / "dump/handcrafted8/feats_info.json").read_text())
    assert info["dim"] == 8 and info["num_utts"] == 80


def test_optuna_search_on_valid_is_resumable(demo):
    import yaml

    space = demo / "conf/tune/lstm_fc.yaml"
    args = ["utils/tune.sh", "--protocol", "fixed", "--space", str(space), "--device", "cpu"]
    import os
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for n in (2, 3):
        subprocess.run([*args, "--n_trials", str(n), "conf/tuning/train_acoustic_gate.yaml"], cwd=demo, env=env,
                       check=True, capture_output=True, timeout=600)
    study = demo / "exp/fixed/tune/train_acoustic_gate"
    trials = json.loads((study / "trials.json").read_text())
    assert [t["number"] for t in trials] == [0, 1, 2] and all(t["state"] == "COMPLETE" for t in trials)
    best = max(trials, key=lambda t: t["value"])
    conf = yaml.safe_load((study / "best.yaml").read_text())
    assert conf["optim"]["lr"] == pytest.approx(best["params"]["optim.lr"])
    assert conf["model"]["lstm_hidden"] == best["params"]["model.lstm_hidden"]
    assert conf["labels"]["classes"] == ["neu", "emo"]
    for t in trials:  # validation only: no trial decoded or read the test set
        assert not list((study / f"trial{t['number']}").glob("decode_*"))
