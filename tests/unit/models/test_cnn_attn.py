"""System B (mel-CNN + BERT/Bi-GRU, attention fusion): the model, the paper's resplit protocols,
the generic plot of extra outputs, and the demo recipe at a tiny setting.

The real-MELD count check runs when the environment variable MELD names the folder with MELD's
CSVs (as a recipe's db.sh would); it is skipped otherwise.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from mer.data.corpora import meld, mosei
from mer.data.datadir import DataDir
from mer.data.protocol_dirs import write_protocol
from mer.data.protocols import ProtocolError, stratified_resplit
from mer.models import build_model, model_input_names
from mer.pretrained import is_complete, models_dir
from mer.scoring.decode_dir import load_decode_dir, write_decode_dir
from mer.metrics import score
from mer.inputs import InputInfo
from tests.helpers import REPO
from tests.helpers.recipes import copy_recipe, run_recipe


PARTS = ("train", "valid", "test")


# ------------------------------------------------------------------ the model
def make_model(**conf):
    infos = {"speech": InputInfo("dump", dim=20), "text": InputInfo("dump", dim=12, num_layers=2)}
    torch.manual_seed(0)
    model = build_model({"name": "cnn_attn", **conf}, 4, {k: infos[k] for k in
                                                           model_input_names({"name": "cnn_attn", **conf})})
    return model.eval()


def make_batch(dialog_lengths=(3, 2), seed=0):
    g = torch.Generator().manual_seed(seed)
    n = sum(dialog_lengths)
    frames = torch.tensor([40, 33, 17, 40, 25])[:n]
    return {"speech": torch.randn(n, 40, 20, generator=g), "speech_lengths": frames,
            "text": torch.randn(n, 6, 24, generator=g), "text_lengths": torch.tensor([6, 4, 2, 5, 6])[:n],
            "dialog_lengths": torch.tensor(dialog_lengths)}


def test_attention_fusion_weights_are_saved_and_sum_to_one():
    model = make_model()
    out = model(make_batch())
    v = out.extras["fusion_weights"]
    assert out.logits.shape == (5, 4) and v.shape == (5, 2)
    assert torch.allclose(v.sum(-1), torch.ones(5)) and (v > 0).all()
    assert model.describe()["extra_output_columns"] == {"fusion_weights": ["speech", "text"]}
    # concat and single-modality variants have no fusion weights
    assert make_model(fusion="concat")(make_batch()).extras == {}
    assert model_input_names({"name": "cnn_attn", "modalities": ["text"]}) == ("text",)
    assert make_model(modalities=["text"])(make_batch()).extras == {}


def _change_turn(batch, row):
    b = dict(batch)
    b["text"] = batch["text"].clone()
    b["text"][row] += 3.0
    return b


@pytest.mark.parametrize("context, future_matters, others_matter", [
    ("bidirectional", True, True), ("causal", False, True), ("none", False, False)])
def test_context_sees_the_turns_it_should(context, future_matters, others_matter):
    model = make_model(modalities=["text"], context=context)
    batch = make_batch()
    base = model(batch).logits
    later = model(_change_turn(batch, 2)).logits  # the last turn of dialogue 1 changes
    assert torch.allclose(later[3:], base[3:])  # dialogue 2 never sees dialogue 1
    assert torch.allclose(later[:2], base[:2]) != future_matters  # earlier turns see the future or not
    earlier = model(_change_turn(batch, 0)).logits  # the first turn changes
    assert torch.allclose(earlier[1:3], base[1:3]) != others_matter


def test_speech_branch_ignores_padding():
    model = make_model(modalities=["speech"], frame_pool=2)
    batch = make_batch()
    out = model(batch).logits
    for i, n in enumerate(batch["speech_lengths"].tolist()):
        alone = {"speech": batch["speech"][i:i + 1, :n], "speech_lengths": torch.tensor([n]),
                 "dialog_lengths": torch.tensor([1])}
        assert torch.allclose(model(alone).logits[0], out[i], atol=1e-5)


def test_bad_model_config_names_the_problem():
    with pytest.raises(ValueError, match="context must be one of"):
        make_model(context="future")
    with pytest.raises(ValueError, match="subset of"):
        build_model({"name": "cnn_attn", "modalities": ["speech", "speech"]}, 4,
                    {"speech": InputInfo("dump", dim=20)})


# ------------------------------------------------------------------ protocols
def test_stratified_resplit_rounds_test_up_per_class():
    utt2label = {f"u{i:04d}": lab for i, lab in enumerate(["a"] * 11 + ["b"] * 5 + ["c"] * 1)}
    fold = stratified_resplit(utt2label, 0.2, 0.1, seed=3)
    test = Counter(utt2label[u] for u in fold.test)
    assert test == {"a": 3, "b": 1, "c": 1}  # ceil(2.2), ceil(1.0), ceil(0.2)
    assert len(fold.valid) == math.ceil(0.1 * 12) and len(fold.train) == 17 - 5 - 2
    assert stratified_resplit(utt2label, 0.2, 0.1, seed=3) == fold
    assert stratified_resplit(utt2label, 0.2, 0.1, seed=4) != fold


def fake_meld(with_fear: bool) -> DataDir:
    dd = DataDir()
    labels = ["neutral"] * 12 + ["joy"] * 6 + ["anger"] * 4 + ["fear"] * (2 if with_fear else 0)
    for i, lab in enumerate(labels):
        split = ("train", "dev", "test")[i % 3]
        dd.add(f"{split}-dia{i // 4:04d}-utt{i % 4:02d}", f"spk{i % 5}", text="x", emo=lab,
               dialog=f"{split}-dia{i // 4:04d}", turn=str(i % 4), split={"dev": "valid"}.get(split, split))
    return dd


def test_meld_resplit_is_six_class_and_renames_cut_dialogues(tmp_path):
    data = tmp_path / "all"
    fake_meld(with_fear=True).save(data)
    with pytest.raises(ProtocolError, match="--label-set 6class"):
        write_protocol("meld", "resplit", data, tmp_path / "resplit")
    fake_meld(with_fear=False).save(data)
    write_protocol("meld", "resplit", data, tmp_path / "resplit")
    parts = {p: DataDir.load(tmp_path / "resplit/fold1" / p) for p in PARTS}
    assert Counter(parts["test"].utt2emo.values()) == {"neutral": 3, "joy": 2, "anger": 1}
    assert sum(len(d) for d in parts.values()) == 22
    for p, d in parts.items():  # each part's turns of a dialogue form a dialogue of their own
        assert all(v.endswith(f"-{p}") for v in d.extra["utt2dialog"].values())
    readme = (tmp_path / "resplit/README").read_text()
    assert "LEAKS" in readme and "in train and test" in readme


@pytest.mark.skipif(not os.environ.get("MELD"), reason="set MELD to the folder with MELD's CSVs")
def test_meld_resplit_on_the_real_csvs_matches_the_papers_table_1(tmp_path):
    meld.prepare(Path(os.environ["MELD"]), tmp_path / "all", label_set="6class", text_only=True)
    write_protocol("meld", "resplit", tmp_path / "all", tmp_path / "resplit")
    parts = {p: DataDir.load(tmp_path / "resplit/fold1" / p) for p in PARTS}
    assert len(parts["train"]) + len(parts["valid"]) == 10676 and len(parts["test"]) == 2674
    assert Counter(parts["test"].utt2emo.values()) == {"joy": 462, "anger": 322, "disgust": 73, "sadness": 201,
                                                        "surprise": 328, "neutral": 1288}


def test_mosei_resplit_one_sample_per_segment_and_emotion(mosei_corpus, tmp_path):  # noqa: F811
    out = tmp_path / "all"
    dd = mosei.prepare(mosei_corpus.parent, out, samples="emotion")  # no folds file needed
    # Every segment with intensities > 0, ties included, once per emotion; the zero row excluded;
    # the video in no standard fold kept.
    assert sorted(dd.utt2emo.items()) == sorted({
        "v81406-000-sad": "sad", "v81406-001-happy": "happy", "v81406-001-sad": "sad",
        "v81406-002-happy": "happy", "v81406-002-anger": "anger", "v-3g5yACwYnA-000-fear": "fear",
        "v-3g5yACwYnA-001-surprise": "surprise", "v-3g5yACwYnA-001-disgust": "disgust",
        "vZx_9nofoldQ-000-happy": "happy", "vaValidVid01-000-anger": "anger"}.items())
    assert dd.extra["utt2segment"]["v81406-002-anger"] == "v81406-002"
    assert dd.segments["v81406-001-sad"] == dd.segments["v81406-001-happy"]
    excluded = dict(line.split("\t") for line in (out / "excluded").read_text().splitlines())
    assert excluded["v81406-003"].startswith("no emotion")
    assert not (out / "utt2split").exists()
    write_protocol("mosei", "resplit", out, tmp_path / "resplit")
    parts = {p: DataDir.load(tmp_path / "resplit/fold1" / p) for p in PARTS}
    assert sum(len(d) for d in parts.values()) == 10
    assert len(parts["test"]) == sum(math.ceil(0.2 * n) for n in Counter(dd.utt2emo.values()).values())
    # the arg-max data dir has no utt2segment, so resplit refuses it
    mosei.prepare(mosei_corpus.parent, tmp_path / "argmax", folds=mosei_corpus.parent / "mosei_folds.json")
    with pytest.raises(ProtocolError, match="--samples emotion"):
        write_protocol("mosei", "resplit", tmp_path / "argmax", tmp_path / "bad")


# ------------------------------------------------------------------ the generic extra-output plot
@pytest.mark.slow
def test_any_extra_output_is_plotted_per_class_and_per_correctness(tmp_path):
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c"]
    utts = [f"u{i:03d}" for i in range(30)]
    refs = {u: classes[i % 3] for i, u in enumerate(utts)}
    post = rng.dirichlet(np.ones(3), size=30)
    w = rng.uniform(size=(30, 1))
    for k in (1, 2):
        d = tmp_path / f"fold{k}/decode_test"
        write_decode_dir(d, utts, classes, post, None, refs=refs,
                         meta={"protocol": "p", "config": "c", "fold": k, "test_set": "test",
                               "model": {"extra_output_columns": {"weights": ["x", "y"]}}},
                         extras={"weights": np.hstack([w, 1 - w]), "gate": w})
    assert load_decode_dir(tmp_path / "fold1/decode_test").output("weights").shape == (30, 2)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    for args in ([str(tmp_path / "fold1/decode_test")], ["--pool", str(tmp_path)]):
        out = tmp_path / f"plots{len(args)}"
        proc = subprocess.run([sys.executable, "-m", "mer.bin.plot", *args, "--out", str(out)], env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        names = sorted(p.name for p in out.iterdir())
        assert sum(n.endswith("_weights.png") for n in names) == 1, names
        assert sum(n.endswith("_gate.png") for n in names) == 1, names


# ------------------------------------------------------------------ the demo recipe, tiny
@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    if not is_complete(models_dir() / "minilm"):
        pytest.skip(f"{models_dir() / 'minilm'} is not prepared: run tools/install.sh")
    recipe = copy_recipe(tmp_path_factory.mktemp("mini_b"), "mini/cnn_attn")
    configs = "conf/tuning/train_cnn_attn.yaml conf/tuning/train_text_nocontext.yaml"
    run_recipe(recipe, "--local_data_opts", "--utts_per_speaker 8", "--train_configs", configs,
               "--train_args", "train.epochs=2", timeout=900)
    return recipe


@pytest.mark.slow
def test_demo_recipe_saves_and_plots_fusion_weights(demo):
    exp = demo / "exp/fixed/train_cnn_attn_train.epochs2"
    decode = exp / "fold1/decode_test"
    meta = json.loads((decode / "meta.json").read_text())
    assert meta["extra_outputs"] == ["fusion_weights"] and meta["model"]["context"] == "bidirectional"
    v = load_decode_dir(decode).output("fusion_weights")
    assert v.shape[1] == 2 and np.allclose(v.sum(1), 1, atol=1e-5)
    assert (exp / "plots/fixed_train_cnn_attn_train.epochs2_pooled_test_fusion_weights.png").is_file()
    assert not list((demo / "exp/fixed/train_text_nocontext_train.epochs2/plots").glob("*_fusion_weights.png"))
    for decode in (demo / "exp/fixed").glob("*/fold1/decode_test"):
        pred = dict(ln.split() for ln in (decode / "utt2pred").read_text().splitlines())
        ref = dict(ln.split() for ln in (decode / "utt2emo").read_text().splitlines())
        again = score([ref[u] for u in sorted(ref)], [pred[u] for u in sorted(ref)],
                      labels=(decode / "classes").read_text().split())
        assert abs(again["ua"] - json.loads((decode / "scores.json").read_text())["ua"]) < 1e-9
    assert sum(ln.startswith("| train_") for ln in (demo / "RESULTS.md").read_text().splitlines()) == 4


def test_training_crops_are_windows_of_real_frames():
    from mer.models.cnn_attn import MelCNN

    x = torch.arange(20.0).view(2, 10, 1)
    mask = torch.arange(10)[None] < torch.tensor([10, 4])[:, None]
    torch.manual_seed(0)
    y, m = MelCNN._random_crop(x, mask, 6)
    assert m.sum(1).tolist() == [6, 4]  # a long utterance is cut to 6 frames, a short one kept whole
    assert torch.equal(y[1, :4, 0], x[1, :4, 0])
    start = int(y[0, 0, 0])
    assert torch.equal(y[0, :, 0], x[0, start:start + 6, 0])
