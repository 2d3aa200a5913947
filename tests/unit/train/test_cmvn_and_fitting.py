"""Per-speaker and per-utterance CMVN of dumped inputs, mean+std pooling, probes on the same
normalised frames as the trained models, and the fitting knobs of the EmoDB recipe (train+valid,
the last epoch, cosine decay, label smoothing, a linear read-out)."""
from __future__ import annotations

import json
import re
import os
import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import torch

from mer.data.datadir import DataDir
from mer.models import build_model
from mer.models.pooling import lengths_to_mask, pool, pooled_dim
from mer.inputs import CMVNInput, DumpInput, FeatureDump, InputInfo, open_input
from tests.helpers import REPO
from tests.helpers.training import make_corpus, write_dump

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}


@pytest.fixture()
def offsets(tmp_path):
    """Two speakers whose frames sit at different offsets and scales, three utterances each."""
    rng = np.random.default_rng(0)
    feats, data = {}, DataDir()
    for spk, (shift, scale) in {"a": (5.0, 1.0), "b": (-3.0, 4.0)}.items():
        for i in range(3):
            utt = f"{spk}-{i}"
            feats[utt] = (shift + scale * rng.normal(size=(10 + 3 * i, 4))).astype("f4")
            data.add(utt, spk, wav=f"/x/{utt}.wav", text="x", emo="ang")
    write_dump(tmp_path / "dump/feat", feats, 4)
    return tmp_path, data, feats


def test_speaker_cmvn_uses_each_speakers_frames_in_the_data_dir_read(offsets):
    root, data, feats = offsets
    source = open_input("audio", {"type": "dump", "name": "feat", "cmvn": "speaker"}, root / "dump")
    assert isinstance(source, CMVNInput) and source.describe()["cmvn"] == "speaker"
    for spk in ("a", "b"):
        frames = torch.cat([source.load(data, u) for u in data.utts if data.utt2spk[u] == spk]).double()
        assert torch.allclose(frames.mean(0), torch.zeros(4, dtype=torch.float64), atol=1e-5)
        assert torch.allclose(frames.std(0, unbiased=False), torch.ones(4, dtype=torch.float64), atol=1e-4)
    # the statistics are those of the data dir being read: speaker a alone in another dir, one utterance
    alone = data.subset(["a-0"])
    x = source.load(alone, "a-0").double()
    assert torch.allclose(x.mean(0), torch.zeros(4, dtype=torch.float64), atol=1e-5)
    assert not torch.allclose(x, source.load(data, "a-0").double(), atol=1e-3)
    expected = (feats["b-1"] - np.concatenate([feats[f"b-{i}"] for i in range(3)]).mean(0))
    assert np.allclose(source.load(data, "b-1").numpy() * np.concatenate(
        [feats[f"b-{i}"] for i in range(3)]).std(0), expected, atol=1e-4)


def test_utterance_cmvn_and_bad_modes(offsets):
    root, data, feats = offsets
    source = open_input("audio", {"type": "dump", "name": "feat", "cmvn": "utterance"}, root / "dump")
    x = source.load(data, "b-2").double()
    assert torch.allclose(x.mean(0), torch.zeros(4, dtype=torch.float64), atol=1e-5)
    with pytest.raises(ValueError, match="cmvn must be one of"):
        open_input("audio", {"type": "dump", "name": "feat", "cmvn": "global"}, root / "dump")
    with pytest.raises(ValueError, match="unknown key"):
        open_input("audio", {"type": "dump", "name": "feat", "cmnv": "speaker"}, root / "dump")
    plain = DumpInput("audio", FeatureDump(root / "dump/feat"))
    assert np.array_equal(plain.load(data, "b-2").numpy(), feats["b-2"])  # no cmvn: as dumped


def test_typical_prob_mixes_in_the_typical_speakers_statistics_at_that_rate(offsets):
    from mer.inputs.cmvn import mix_typical_stats, normalise

    root, data, feats = offsets
    spec = {"type": "dump", "name": "feat", "cmvn": "speaker", "cmvn_typical_prob": 0.3}
    source = open_input("audio", spec, root / "dump")
    mixed = mix_typical_stats({"audio": source}, {"audio": spec}, data)["audio"]
    stats = [source.speaker_stats(data, s) for s in ("a", "b")]
    mean, std = (stats[0][0] + stats[1][0]) / 2, (stats[0][1] + stats[1][1]) / 2   # the typical speaker
    own = source.load(data, "b-1")
    typical = normalise(torch.from_numpy(feats["b-1"]), (mean, std))
    torch.manual_seed(0)
    loads = [mixed.load(data, "b-1") for _ in range(400)]
    is_typical = [torch.allclose(x, typical, atol=1e-5) for x in loads]
    assert all(t or torch.equal(x, own) for t, x in zip(is_typical, loads))
    assert 0.22 < sum(is_typical) / len(loads) < 0.38
    torch.manual_seed(0)
    assert [torch.allclose(mixed.load(data, "b-1"), typical, atol=1e-5) for _ in range(400)] == is_typical
    # 0 or absent: the input as it was; a rate needs per-speaker CMVN
    for other in ({**spec, "cmvn_typical_prob": 0}, {k: v for k, v in spec.items() if k != "cmvn_typical_prob"}):
        assert mix_typical_stats({"audio": source}, {"audio": other}, data)["audio"] is source
    with pytest.raises(ValueError, match="cmvn_typical_prob .*needs cmvn: speaker"):
        open_input("audio", {**spec, "cmvn": "utterance"}, root / "dump")
    with pytest.raises(ValueError, match=r"cmvn_typical_prob must be a probability in \[0, 1\], got 1.5"):
        open_input("audio", {**spec, "cmvn_typical_prob": 1.5}, root / "dump")


def test_mean_std_pooling_ignores_padding_and_widens_the_head():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 7, 3, generator=g)
    mask = lengths_to_mask(torch.tensor([4, 7]))
    out = pool(x, "mean+std", mask)
    assert out.shape == (2, 6) and pooled_dim("mean+std", 3) == 6 and pooled_dim("max", 3) == 3
    first = x[0, :4]
    assert torch.allclose(out[0], torch.cat([first.mean(0), first.std(0, unbiased=False)]), atol=1e-6)
    padded = x.clone()
    padded[0, 4:] = 1e3
    assert torch.allclose(pool(padded, "mean+std", mask), out)
    model = build_model({"name": "audio_only", "aggregation": "mean+std", "projection": "mlp", "dim": 8},
                        4, {"audio": InputInfo("dump", 3, 1)})
    batch = {"audio": x, "audio_lengths": torch.tensor([4, 7])}
    res = model(batch)
    assert res.logits.shape == (2, 4) and res.embedding.shape == (2, 16)


@pytest.mark.slow
def test_probe_with_speaker_cmvn_reads_the_normalised_frames(tmp_path):
    import shutil

    corpus = make_corpus(tmp_path / "corpus")
    proto = tmp_path / "data/fixed"
    for part in ("train", "valid", "test"):
        shutil.copytree(corpus / "data" / part, proto / "fold1" / part)
    probe = [sys.executable, "-m", "mer.bin.combine", "--name", "linear_probe", "--set", "dump=audio",
             "--dumpdir", str(corpus / "dump"), "--protocol-dir", str(proto), "--set", "layer=0"]
    embeddings = {}
    for cmvn in (None, "speaker"):
        out = tmp_path / f"exp/probe_{cmvn}"
        cmd = probe + ["--out", str(out)] + (["--set", f"cmvn={cmvn}"] if cmvn else [])
        proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        dec = out / "fold1/decode_test"
        assert json.loads((dec / "meta.json").read_text())["cmvn"] == cmvn
        embeddings[cmvn] = dict(kaldiio.load_scp(str(dec / "embeddings.scp")))
    test = DataDir.load(proto / "fold1/test")
    source = open_input("audio", {"type": "dump", "name": "audio", "cmvn": "speaker", "layers": [0]},
                        corpus / "dump")
    u = test.utts[0]
    x = source.load(test, u).numpy()
    assert np.allclose(embeddings["speaker"][u], np.concatenate([x.mean(0), x.std(0)]), atol=1e-5)
    assert not np.allclose(embeddings["speaker"][u], embeddings[None][u], atol=1e-2)


# ------------------------------------------------------------------ fitting on train+valid, the last epoch


def test_combined_data_dirs_hold_both_and_refuse_repeats(offsets):
    _, data, _ = offsets
    a, b = data.filter(lambda u: u.startswith("a")), data.filter(lambda u: u.startswith("b"))
    both = DataDir.combine([a, b])
    assert both.utts == data.utts and both.utt2spk == data.utt2spk and both.utt2emo == data.utt2emo
    with pytest.raises(ValueError, match="also in"):
        DataDir.combine([a, data])


def test_cosine_schedule_decays_from_the_full_rate():
    from mer.train.trainer import LRSchedule

    sched = LRSchedule({"name": "cosine", "warmup_steps": 0}, epochs=10)
    factors = [sched.factor(0, e, False) for e in range(1, 11)]
    assert factors[0] == 1.0 and all(x > y for x, y in zip(factors, factors[1:])) and 0 < factors[-1] < 0.05


@pytest.mark.slow
def test_fit_on_train_and_valid_keeps_the_last_epoch(tmp_path):
    from tests.helpers.training import write_config
    corpus = make_corpus(tmp_path / "corpus")
    cfg = write_config(tmp_path / "fit.yaml", epochs=3)  # memocmt
    text = cfg.read_text().replace("best_metric: ua", "best_metric: last, fit_on: train+valid")
    text = text.replace("name: steplr, step_size: 30, gamma: 0.1", "name: cosine")
    cfg.write_text(text)
    cmd = [sys.executable, "-m", "mer.bin.train", "--config", str(cfg), "--train-dir", str(corpus / "data/train"),
           "--valid-dir", str(corpus / "data/valid"), "--dumpdir", str(corpus / "dump"),
           "--labels", str(corpus / "data/all/labels")]
    proc = subprocess.run(cmd + ["--exp-dir", str(tmp_path / "exp")], env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "exp/train_summary.json").read_text())
    assert summary["best"]["epoch"] == 3 and summary["best"]["metric"] == "last"
    n_train, n_valid = (len(DataDir.load(corpus / "data" / p).utts) for p in ("train", "valid"))
    log = (tmp_path / "exp/train.log").read_text()
    assert f"{n_train + n_valid} train / {n_valid} valid utterances" in log
    # the validation set is inside the training data: its scores say so, and no epoch is marked as
    # chosen on them (best_metric last keeps the last)
    epochs = [ln for ln in log.splitlines() if re.search(r"epoch \d+: lr", ln)]
    assert len(epochs) == 3 and all("| valid(in train) loss" in ln and not ln.endswith(" *") for ln in epochs)
    assert f"the validation set {corpus / 'data/valid'} is inside the training data" in log
    best = torch.load(tmp_path / "exp/best.pt", weights_only=True)
    last = torch.load(tmp_path / "exp/checkpoint.pt", weights_only=True)
    assert best["epoch"] == 3 and all(torch.equal(best["model"][k], last["model"][k]) for k in best["model"])
    # training on the validation set leaves nothing to choose on
    cfg.write_text(text.replace("best_metric: last", "best_metric: ua"))
    proc = subprocess.run(cmd + ["--exp-dir", str(tmp_path / "bad")], env=ENV, capture_output=True, text=True)
    assert proc.returncode != 0 and "set train.best_metric: last" in proc.stderr
    # on a held-out validation set the log says plain "valid" and marks the epoch chosen on it
    cfg.write_text(text.replace("best_metric: last, fit_on: train+valid", "best_metric: ua"))
    proc = subprocess.run(cmd + ["--exp-dir", str(tmp_path / "held_out")], env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = (tmp_path / "held_out/train.log").read_text()
    epochs = [ln for ln in log.splitlines() if re.search(r"epoch \d+: lr", ln)]
    assert all("| valid loss" in ln for ln in epochs) and epochs[0].endswith(" *")


def test_label_smoothing_for_any_model_and_a_linear_read_out():
    from mer.models.abs_model import ModelOutput

    infos = {"audio": InputInfo("dump", 3, 1)}
    plain = build_model({"name": "audio_only", "head_hidden": 0, "dim": 8}, 4, infos)
    smooth = build_model({"name": "audio_only", "head_hidden": 0, "dim": 8, "label_smoothing": 0.1}, 4, infos)
    linears = [m for m in plain.head.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 1 and linears[0].in_features == 8 and linears[0].out_features == 4
    out = ModelOutput(torch.tensor([[10.0, 0.0, 0.0, 0.0], [0.0, 10.0, 0.0, 0.0]]))
    labels = torch.tensor([0, -1])
    ce, ls = plain.loss(out, labels), smooth.loss(out, labels)
    assert ce[1] == 0 and ls[1] == 0  # a context label counts zero either way
    expected = torch.nn.functional.cross_entropy(out.logits[:1], labels[:1], label_smoothing=0.1)
    assert torch.isclose(ls[0], expected) and ls[0] > ce[0]
    with pytest.raises(ValueError, match="label_smoothing"):
        build_model({"name": "audio_only", "label_smoothing": 1.5}, 4, infos)
