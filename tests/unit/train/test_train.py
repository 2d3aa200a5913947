"""The trainer, models and inference on small dumped corpora: real kaldiio, real torch.distributed."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from mer.models import build_model
from mer.models.pooling import lengths_to_mask, pool
from mer.inputs import BucketBatchSampler, InputInfo, rank_slice
from mer.train.config import experiment_tag, load_config
from tests.helpers.training import (ENV, LABELS, make_corpus, max_diff, probe_command, run, train_cmd, weights,
                                    write_config)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


# ------------------------------------------------------------------ models

INFOS = {"audio": InputInfo("dump", 16, 2), "text": InputInfo("dump", 12, 1)}


def batch_of(lengths_a, lengths_t, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.zeros(len(lengths_a), max(lengths_a), 32)
    t = torch.zeros(len(lengths_t), max(lengths_t), 12)
    for i, (n, m) in enumerate(zip(lengths_a, lengths_t)):
        a[i, :n] = torch.randn(n, 32, generator=g)
        t[i, :m] = torch.randn(m, 12, generator=g)
    return {"audio": a, "audio_lengths": torch.tensor(lengths_a), "text": t, "text_lengths": torch.tensor(lengths_t)}


@pytest.mark.parametrize("aggregation", ["cls", "mean", "min", "max"])
def test_improved_memocmt_ignores_padding(aggregation):
    torch.manual_seed(0)
    model = build_model({"name": "memocmt", "variant": "improved", "aggregation": aggregation, "dim": 16,
                         "num_heads": 2, "ffn_dim": 32}, 4, INFOS).eval()
    alone = batch_of([7], [5])
    padded = batch_of([7, 11], [5, 9])  # the same first utterance, padded to longer partners
    padded["audio"][0, 7:] = 123.0  # garbage in the padding must not matter
    padded["text"][0, 5:] = -77.0
    with torch.no_grad():
        a, b = model(alone), model(padded)
    assert torch.allclose(a.logits[0], b.logits[0], atol=1e-5)
    assert torch.allclose(a.embedding[0], b.embedding[0], atol=1e-5)


def test_faithful_memocmt_sees_padding_as_published():
    torch.manual_seed(0)
    model = build_model({"name": "memocmt", "variant": "faithful", "aggregation": "mean", "dim": 16,
                         "num_heads": 2}, 4, INFOS).eval()
    alone, padded = batch_of([7], [5]), batch_of([7, 11], [5, 9])
    with torch.no_grad():
        assert not torch.allclose(model(alone).logits[0], model(padded).logits[0], atol=1e-4)
    # so prediction runs it one utterance at a time, whatever batch size is asked for
    assert model.padding_sensitive
    # and its `cls` is position 0 of the concatenation: the first audio frame after attending to text
    m = build_model({"name": "memocmt", "variant": "faithful", "aggregation": "cls", "dim": 16, "num_heads": 2},
                    4, INFOS).eval()
    captured = {}
    m.audio_queries_text.register_forward_hook(lambda mod, inp, out: captured.setdefault("a", out))
    with torch.no_grad():
        emb = m(alone).embedding
    assert torch.allclose(emb[0], captured["a"][0, 0])


def _randomise(module: torch.nn.Module, seed: int) -> None:
    # LayerNorm starts as the identity (weight 1, bias 0); random values make its place in the order matter
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def _attention(q, k, v):
    return torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1) @ v


def test_memocmt_attention_orders_follow_code_and_eq2():
    """One head (so eq. 2's sqrt(d) is the head width), eval mode (no dropout): the `code` order is
    the published code's MultiheadAttention -> Linear -> LayerNorm, the `eq2` order the paper's
    LayerNorm[softmax(Q Wq (K Wk)^T / sqrt d) V Wv] W + b; each recomputed here from its weights."""
    conf = {"name": "memocmt", "variant": "faithful", "aggregation": "min", "dim": 16, "num_heads": 1}
    code = build_model(conf, 4, INFOS).eval()
    eq2 = build_model({**conf, "attention_order": "eq2"}, 4, INFOS).eval()
    for model, seed in ((code, 1), (eq2, 1)):
        _randomise(model, seed)
    g = torch.Generator().manual_seed(5)
    query, key = torch.randn(1, 6, 16, generator=g), torch.randn(1, 4, 16, generator=g)

    block = code.audio_queries_text
    wq, wk, wv = block.attn.in_proj_weight.chunk(3)
    bq, bk, bv = block.attn.in_proj_bias.chunk(3)
    heads = _attention(query @ wq.T + bq, key @ wk.T + bk, key @ wv.T + bv)
    mha = heads @ block.attn.out_proj.weight.T + block.attn.out_proj.bias
    by_code = torch.nn.functional.layer_norm(mha @ block.linear.weight.T + block.linear.bias, (16,),
                                             block.norm.weight, block.norm.bias)
    block2 = eq2.audio_queries_text
    inner = _attention(query @ block2.w_q.weight.T, key @ block2.w_k.weight.T, key @ block2.w_v.weight.T)
    by_eq2 = (torch.nn.functional.layer_norm(inner, (16,), block2.norm.weight, block2.norm.bias)
              @ block2.out.weight.T + block2.out.bias)
    with torch.no_grad():
        assert torch.allclose(block(query, key), by_code, atol=1e-5)
        assert torch.allclose(block2(query, key), by_eq2, atol=1e-5)
        # the orders differ with the same weights: the code block given eq. 2's Wq/Wk/Wv, W, b and
        # LayerNorm (its extra output projection the identity) computes LayerNorm(att W + b), not
        # LayerNorm(att) W + b
        block.attn.in_proj_weight.copy_(torch.cat([block2.w_q.weight, block2.w_k.weight, block2.w_v.weight]))
        block.attn.in_proj_bias.zero_()
        block.attn.out_proj.weight.copy_(torch.eye(16))
        block.attn.out_proj.bias.zero_()
        block.linear.load_state_dict(block2.out.state_dict())
        block.norm.load_state_dict(block2.norm.state_dict())
        swapped = torch.nn.functional.layer_norm(inner @ block2.out.weight.T + block2.out.bias, (16,),
                                                 block2.norm.weight, block2.norm.bias)
        assert torch.allclose(block(query, key), swapped, atol=1e-5)
        assert not torch.allclose(block(query, key), block2(query, key), atol=1e-2)
        out = eq2(batch_of([7], [5]))
    assert out.logits.shape == (1, 4)
    # eq. 2 with several heads: the heads split the projections, one LayerNorm over their concatenation
    multi = build_model({**conf, "attention_order": "eq2", "num_heads": 4}, 4, INFOS).eval()
    assert multi(batch_of([7, 3], [5, 2])).logits.shape == (2, 4)
    with pytest.raises(ValueError, match="attention_order 'eq2' is a form of the faithful model"):
        build_model({**conf, "variant": "improved", "attention_order": "eq2"}, 4, INFOS)
    with pytest.raises(ValueError, match="attention_order must be one of"):
        build_model({**conf, "attention_order": "paper"}, 4, INFOS)


def test_pooling_with_mask():
    x = torch.tensor([[[1.0], [5.0], [-100.0]], [[2.0], [4.0], [6.0]]])
    mask = lengths_to_mask(torch.tensor([2, 3]))
    assert pool(x, "mean", mask).flatten().tolist() == [3.0, 4.0]
    assert pool(x, "min", mask).flatten().tolist() == [1.0, 2.0]
    assert pool(x, "max", mask).flatten().tolist() == [5.0, 6.0]
    assert pool(x, "min").flatten().tolist() == [-100.0, 2.0]  # unmasked, as the published code
    with pytest.raises(ValueError, match="unknown aggregation"):
        pool(x, "median", mask)


def test_unimodal_baselines_and_layer_mix():
    for name in ("audio_only", "text_only"):
        m = build_model({"name": name, "aggregation": "mean"}, 4, INFOS)
        out = m(batch_of([6, 3], [4, 2]))
        assert out.logits.shape == (2, 4)
    m = build_model({"name": "audio_only", "aggregation": "mean"}, 4, INFOS)
    assert m.stream.mix.weights.shape == (2,)  # two stored layers -> a learnable mix
    with pytest.raises(ValueError, match=r"reads input\(s\) \['text'\]"):
        build_model({"name": "memocmt"}, 4, {"audio": INFOS["audio"]})


# ------------------------------------------------------------------ config and batching

def test_config_defaults_overrides_and_tag(tmp_path):
    cfg = write_config(tmp_path / "train_x.yaml", epochs=5)
    conf = load_config(cfg, ["train.epochs=2", "optim.betas=[0.8, 0.9]"])
    assert conf["train"]["epochs"] == 2 and conf["optim"]["betas"] == [0.8, 0.9]
    assert conf["train"]["grad_clip"] is None  # every knob is named in the resolved config
    assert experiment_tag(cfg, ["train.epochs=2"]) == "train_x_train.epochs2"
    (tmp_path / "bad.yaml").write_text("modle: {}\n")
    with pytest.raises(ValueError, match="unknown top-level section"):
        load_config(tmp_path / "bad.yaml")


def test_bucket_sampler_global_batches_split_across_ranks():
    lengths = list(np.random.default_rng(0).integers(1, 100, size=37))
    one = BucketBatchSampler(lengths, 8, seed=3)
    one.set_epoch(2)
    batches = one.global_batches()
    assert sorted(i for b in batches for i in b) == list(range(37))
    assert all(max(lengths[i] for i in b) - min(lengths[i] for i in b) < 60 for b in batches[:-1])
    ranks = [BucketBatchSampler(lengths, 8, seed=3, rank=r, world_size=2) for r in range(2)]
    for r in ranks:
        r.set_epoch(2)
    for g, r0, r1 in zip(batches, *ranks):
        real = [i for i in r0 + r1 if i >= 0]
        assert sorted(real) == sorted(g)
    assert rank_slice([5], 1, 2) == [-6]  # an empty share becomes a zero-weight copy


# ------------------------------------------------------------------ training runs

@pytest.mark.slow
def test_training_learns_and_writes_experiment_dir(corpus):
    cfg = write_config(corpus / "train_learn.yaml", epochs=6)
    run(train_cmd(corpus, cfg, "exp/learn"))
    exp = corpus / "exp/learn"
    for name in ("config.yaml", "classes", "train.log", "checkpoint.pt", "best.pt", "history.json",
                 "train_summary.json"):
        assert (exp / name).is_file(), name
    assert list((exp / "tensorboard").iterdir())
    history = json.loads((exp / "history.json").read_text())
    assert len(history) == 6 and history[-1]["train_loss"] < history[0]["train_loss"]
    summary = json.loads((exp / "train_summary.json").read_text())
    assert summary["best"]["value"] == max(h["valid_ua"] for h in history)
    assert (exp / "classes").read_text().split() == LABELS
    # inference writes everything scoring and plots need
    out = exp / "decode_test"
    run([sys.executable, "-m", "mer.bin.infer", "--exp-dir", str(exp), "--data-dir", str(corpus / "data/test"),
         "--dumpdir", str(corpus / "dump"), "--out", str(out), "--protocol", "fixed", "--fold", "1"])
    post = kaldiio.load_scp(str(out / "posteriors.scp"))
    emb = kaldiio.load_scp(str(out / "embeddings.scp"))
    preds = dict(ln.split() for ln in (out / "utt2pred").read_text().splitlines())
    assert len(preds) == 20 and set(post) == set(preds) == set(emb)
    for utt, lab in preds.items():
        assert abs(post[utt].sum() - 1) < 1e-5 and LABELS[int(np.argmax(post[utt]))] == lab
        assert emb[utt].shape == (16,)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["protocol"] == "fixed" and meta["modalities"] == "audio+text" and meta["aggregation"] == "mean"
    run([sys.executable, "-m", "mer.bin.score", str(out)])
    scores = json.loads((out / "scores.json").read_text())
    assert scores["ua"] > 0.5  # four classes; the labels are in the features


@pytest.mark.slow
def test_interrupted_training_resumes_and_matches_uninterrupted(corpus):
    cfg = write_config(corpus / "train_resume.yaml", epochs=40, batch_size=4, dropout=0.2)
    run(train_cmd(corpus, cfg, "exp/straight"))
    proc = subprocess.Popen(train_cmd(corpus, cfg, "exp/killed"), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt = corpus / "exp/killed/checkpoint.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["epoch"] < 40, "the run finished before it could be interrupted"
    resumed = run(train_cmd(corpus, cfg, "exp/killed"))
    assert f"resuming from epoch {state['epoch']}" in resumed.stderr
    assert max_diff(weights(corpus / "exp/straight/checkpoint.pt"), weights(ckpt)) == 0.0
    a = json.loads((corpus / "exp/straight/train_summary.json").read_text())
    b = json.loads((corpus / "exp/killed/train_summary.json").read_text())
    assert a["best"] == b["best"]
    again = run(train_cmd(corpus, cfg, "exp/killed"))  # a finished run stays finished
    assert "training already finished" in again.stderr


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(corpus):
    cfg = write_config(corpus / "train_ddp.yaml", epochs=3, batch_size=7, dropout=0.0)
    run(train_cmd(corpus, cfg, "exp/p1"))
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "mer.bin.train")
    run(train_cmd(corpus, cfg, "exp/p2", launcher=torchrun), timeout=300)
    assert json.loads((corpus / "exp/p2/train_summary.json").read_text())["world_size"] == 2
    # Same global batches, gradients averaged across ranks: equal up to float summation order.
    assert max_diff(weights(corpus / "exp/p1/checkpoint.pt"), weights(corpus / "exp/p2/checkpoint.pt")) < 1e-3
    h1 = json.loads((corpus / "exp/p1/history.json").read_text())
    h2 = json.loads((corpus / "exp/p2/history.json").read_text())
    assert [round(h["train_loss"], 3) for h in h1] == [round(h["train_loss"], 3) for h in h2]


@pytest.mark.slow
def test_early_stopping_and_missing_features(corpus, tmp_path):
    cfg = write_config(corpus / "train_es.yaml", epochs=50)
    run(train_cmd(corpus, cfg, "exp/es", "--override", "train.early_stopping_patience=2",
                  "--override", "optim.lr=0.0"))  # lr 0: never improves after epoch 1
    summary = json.loads((corpus / "exp/es/train_summary.json").read_text())
    assert summary["early_stopped"] and summary["epochs_run"] == 3
    # an utterance without features gives an error that names it and says what to do
    bad = tmp_path / "train"
    from mer.data.datadir import DataDir

    d = DataDir.load(corpus / "data/train")
    d.add("spk9-0000", "spk9", wav="/x.wav", text="x", emo="ang")
    d.save(bad)
    cmd = train_cmd(corpus, cfg, "exp/bad")
    cmd[cmd.index("--train-dir") + 1] = str(bad)
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "spk9-0000" in proc.stderr and "fix_data_dir.sh" in proc.stderr


def test_faithful_model_predicts_unbatched(corpus):
    from mer.inference import predict
    from mer.inputs import DumpInput, EmotionDataset, FeatureDump, LabelMap

    inputs = {n: DumpInput(n, FeatureDump(corpus / "dump" / n)) for n in ("audio", "text")}
    data = EmotionDataset(corpus / "data/test", LabelMap(None, LABELS), inputs)
    torch.manual_seed(0)
    model = build_model({"name": "memocmt", "variant": "faithful", "aggregation": "min", "dim": 16,
                         "num_heads": 2}, 4, {k: s.info for k, s in inputs.items()})
    asked_16 = predict(model, data, torch.device("cpu"), 16)
    one_by_one = predict(model, data, torch.device("cpu"), 1)
    assert torch.equal(asked_16["logits"], one_by_one["logits"])
    model.padding_sensitive = False  # what batching would have given: different outputs
    padded = predict(model, data, torch.device("cpu"), 16)
    assert not torch.allclose(padded["logits"], one_by_one["logits"], atol=1e-4)


@pytest.mark.slow
def test_linear_probe_writes_scorable_decode_dirs(corpus, tmp_path):
    probe = probe_command(corpus, tmp_path)
    out = tmp_path / "exp/fixed/probe_audio_l0"
    run([*probe, "--set", "layer=0", "--out", str(out)])
    dec = out / "fold1/decode_test"
    meta = json.loads((dec / "meta.json").read_text())
    assert meta["system"] == "linear_probe" and meta["modalities"] == "audio" and meta["num_utts"] == 20
    emb = kaldiio.load_scp(str(dec / "embeddings.scp"))
    assert all(v.shape == (32,) for v in emb.values())  # mean+std of one 16-d layer
    run([sys.executable, "-m", "mer.bin.score", str(dec)])
    assert json.loads((dec / "scores.json").read_text())["ua"] > 0.5  # layer 0 carries the label
    bad = subprocess.run([*probe, "--set", "layer=5", "--out", str(tmp_path / "x")],
                         env=ENV, capture_output=True, text=True)
    assert bad.returncode != 0 and "stores 2 layers" in bad.stderr
