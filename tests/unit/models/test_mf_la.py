"""System D (mf_la): layer adapters and multi-level fusion on tiny dimensions; every ablation row
builds, padding changes nothing, the layer weights are a distribution that learns, raw encoders hand
over every layer, and a tiny run trains, decodes with an input override and plots the weights."""
from __future__ import annotations

import json
import sys

import pytest
import torch

from mer.models import build_model
from mer.models.mf_la import LayerAdapter
from mer.inputs import InputInfo
from tests.helpers.models import speech_batch
from tests.helpers.training import make_corpus, run, train_cmd

INFOS = {"speech": InputInfo("dump", dim=8, num_layers=3), "text": InputInfo("dump", dim=6, num_layers=2),
         "context": InputInfo("dump", dim=5, num_layers=4)}
TINY = {"name": "mf_la", "dim": 16, "num_heads": 2, "ffn_dim": 32}
# Tables I and II of the paper as (streams, adapters, fusion)
ROWS = [(s, a, f) for s in (["speech"], ["text"], ["context"], ["speech", "text"], ["speech", "context"],
                            ["text", "context"], ["speech", "text", "context"])
        for a in ([], [x for x in s if x != "context"]) for f in ("concat", "mf")]


def padded(streams, lengths, seed=0) -> dict:
    """Random frames of each stream; utterance j of stream k has lengths[j] + k frames."""
    g = torch.Generator().manual_seed(seed)
    batch = {}
    for k, s in enumerate(streams):
        info = INFOS[s]
        lens = [n + k for n in lengths]
        x = torch.zeros(len(lens), max(lens), info.dim * info.num_layers)
        for j, n in enumerate(lens):
            x[j, :n] = torch.randn(n, info.dim * info.num_layers, generator=g)
        batch[s], batch[f"{s}_lengths"] = x, torch.tensor(lens)
    return batch


def model(num_classes=4, **conf):
    torch.manual_seed(0)
    return build_model({**TINY, **conf}, num_classes, INFOS)


@pytest.mark.parametrize("streams,adapters,fusion", ROWS)
def test_every_ablation_row_builds_and_ignores_padding(streams, adapters, fusion):
    m = model(streams=streams, adapters=adapters, fusion=fusion).eval()
    assert type(m).input_names({"streams": streams}) == tuple(streams)
    batch = padded(streams, [4, 11, 7])
    with torch.no_grad():
        out = m(batch)
        alone = m({k: v[:1, : int(batch[f"{k}_lengths"][0])] if not k.endswith("_lengths") else v[:1]
                   for k, v in batch.items()})
    n_pooled = (sum(q in streams for q in ("speech", "text")) + ("context" in streams)
                if fusion == "mf" else len(streams))
    assert out.logits.shape == (3, 4) and out.embedding.shape == (3, 16 * n_pooled)
    # the first utterance alone gives what it gives beside longer ones: padding is masked everywhere
    assert torch.allclose(alone.logits, out.logits[:1], atol=1e-5)
    assert sorted(m.describe()["layer_weights"]) == sorted(adapters)


@pytest.mark.parametrize("frame_pool", [1, 3])
def test_padding_values_do_not_leak(frame_pool):
    m = model(frame_pool=frame_pool).eval()
    batch = padded(("speech", "text", "context"), [3, 9])
    noisy = {k: v.clone() for k, v in batch.items()}
    for s in ("speech", "text", "context"):
        n = int(batch[f"{s}_lengths"][0])
        noisy[s][0, n:] = 1e3  # garbage where utterance 0 is padded
    with torch.no_grad():
        assert torch.allclose(m(batch).logits[0], m(noisy).logits[0], atol=1e-5)


def test_frame_pooling_averages_real_frames_only():
    from mer.models.mf_la import pool_frames

    x = torch.arange(1.0, 8.0).view(1, 7, 1).repeat(2, 1, 1)
    mask = torch.tensor([[True] * 7, [True] * 5 + [False] * 2])
    y, m = pool_frames(x, mask, 3)
    assert y[0, :, 0].tolist() == [2.0, 5.0, 7.0] and m[0].all()
    assert y[1, :, 0].tolist() == [2.0, 4.5, 0.0] and m[1].tolist() == [True, True, False]


def test_layer_weights_are_a_distribution_that_learns():
    m = model(adapters=["speech", "text", "context"])
    weights = m.describe()["layer_weights"]
    assert {s: len(w) for s, w in weights.items()} == {"speech": 3, "text": 2, "context": 4}
    for w in weights.values():
        assert abs(sum(w) - 1) < 1e-5 and min(w) > 0
    batch = padded(("speech", "text", "context"), [5, 6, 7, 8])
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(5):
        opt.zero_grad()
        m.loss(m(batch), torch.tensor([0, 1, 2, 3])).mean().backward()
        opt.step()
    after = m.describe()["layer_weights"]
    assert any(abs(a - b) > 1e-4 for s in weights for a, b in zip(weights[s], after[s]))
    assert all(abs(sum(w) - 1) < 1e-5 for w in after.values())


def test_the_adapter_is_per_layer_fc_activation_layernorm_then_weighted_sum():
    torch.manual_seed(0)
    a = LayerAdapter(num_layers=3, in_dim=4, dim=5, activation="relu")
    with torch.no_grad():
        a.layer_logits.copy_(torch.tensor([0.0, 1.0, -1.0]))
    x = torch.randn(2, 7, 3 * 4)
    expected = 0
    for layer, w in enumerate(torch.softmax(a.layer_logits, 0)):
        h = torch.relu(x[..., layer * 4:(layer + 1) * 4] @ a.fc_weight[layer] + a.fc_bias[layer])
        h = torch.nn.functional.layer_norm(h, (5,), a.norm_weight[layer], a.norm_bias[layer])
        expected = expected + w * h
    assert torch.allclose(a(x), expected, atol=1e-5)


def test_bad_configs_are_named():
    with pytest.raises(ValueError, match="model.streams"):
        model(streams=["speech", "video"])
    with pytest.raises(ValueError, match="not in model.streams"):
        model(streams=["speech"], adapters=["text"])
    with pytest.raises(ValueError, match="model.fusion"):
        model(fusion="sum")


def test_raw_text_and_speech_encoders_hand_over_every_layer(tiny_bert, tiny_speech_encoders):  # noqa: F811
    infos = {"speech": InputInfo("waveform", sample_rate=16000), "text": InputInfo("text"),
             "context": INFOS["context"]}
    encoders = {"speech": {"model": str(tiny_speech_encoders["w2v"])},
                "text": {"model": str(tiny_bert), "finetune": True, "max_tokens": 16}}
    torch.manual_seed(0)
    m = build_model({**TINY, "encoders": encoders}, 4, infos).eval()
    # embeddings + 2 layers each: the adapters see every hidden state of both encoders
    assert {s: len(w) for s, w in m.describe()["layer_weights"].items()} == {"speech": 3, "text": 2}
    names = m.encoder_parameter_names()
    assert any(n.startswith("sources.text.encoder.") for n in names)
    assert any(n.startswith("sources.speech.encoder.") for n in names)
    assert not any("adapt" in n or "self_layers" in n for n in names)  # new layers get optim.lr
    batch = {**speech_batch([8000, 12000]), "text": ["a happy day", "so sad"],
             "text_lengths": torch.tensor([3, 2]), **padded(("context",), [20, 30])}
    batch["speech"], batch["speech_lengths"] = batch.pop("audio"), batch.pop("audio_lengths")
    with torch.no_grad():
        assert m(batch).logits.shape == (2, 4)
    with pytest.raises(ValueError, match="set by the model"):
        build_model({**TINY, "encoders": {**encoders, "text": {**encoders["text"], "layer": 1}}}, 4, infos)


@pytest.mark.slow
def test_tiny_run_trains_decodes_with_an_override_and_plots_layer_weights(tmp_path):
    root = make_corpus(tmp_path, audio_layers=3)
    cfg = tmp_path / "mf_la.yaml"
    cfg.write_text("""model: {name: mf_la, streams: [speech, context], adapters: [speech], dim: 16, num_heads: 2,
        ffn_dim: 32, dropout: 0.1}
inputs: {speech: audio, context: text}
optim: {lr: 3.0e-3}
train: {epochs: 2, batch_size: 8, bucketing: true, best_metric: ua}
""")
    run(train_cmd(root, cfg, "exp/loso/mf_la/fold1"))
    exp = root / "exp/loso/mf_la/fold1"
    infer = [sys.executable, "-m", "mer.bin.infer", "--exp-dir", str(exp), "--data-dir", str(root / "data/test"),
             "--dumpdir", str(root / "dump"), "--protocol", "loso", "--fold", "1"]
    run([*infer, "--out", str(exp / "decode_test")])
    # the same model decoded with another dump as its context input, as a recipe's --infer_args does
    (root / "dump/text2").symlink_to(root / "dump/text")
    run([*infer, "--out", str(exp / "decode_test_other"), "--test-set", "test_other",
         "--override", "inputs.context=text2"])
    metas = {d: json.loads((exp / d / "meta.json").read_text()) for d in ("decode_test", "decode_test_other")}
    assert metas["decode_test_other"]["input_overrides"] == ["inputs.context=text2"]
    weights = metas["decode_test"]["model"]["layer_weights"]["speech"]
    assert len(weights) == 3 and abs(sum(weights) - 1) < 1e-5
    out = tmp_path / "plots"
    run([sys.executable, "-m", "mer.bin.plot", "--pool", str(exp.parent), "--test-set", "test", "--out", str(out)])
    assert (out / "loso_mf_la_pooled_test_layer_weights.png").stat().st_size > 0


def test_models_without_layer_weights_get_no_layer_weight_figure():
    from mer.plots.layer_weights import layer_weights_by_stream

    assert layer_weights_by_stream([{}, None, {"layer_weights": {}}]) == {}
    both = layer_weights_by_stream([{"layer_weights": {"s": [0.2, 0.8]}}, {"layer_weights": {"s": [0.4, 0.6]}}])
    assert both["s"].shape == (2, 2) and abs(both["s"].mean(0)[0] - 0.3) < 1e-9
    assert layer_weights_by_stream([{"layer_weights": {"s": [1.0]}}, {"layer_weights": {"s": [0.5, 0.5]}}]) == {}


def test_a_dump_input_can_read_some_of_its_layers(tmp_path):
    from mer.data.datadir import DataDir
    from mer.inputs import open_input

    root = make_corpus(tmp_path, audio_layers=3)  # audio: 3 layers of 16 side by side
    full = open_input("x", "audio", root / "dump")
    last = open_input("x", {"type": "dump", "name": "audio", "layers": "last"}, root / "dump")
    two = open_input("x", {"type": "dump", "name": "audio", "layers": [0, -1]}, root / "dump")
    data = DataDir.load(root / "data/all")
    utt = data.utts[0]
    m = full.load(data, utt)
    assert (last.info.num_layers, two.info.num_layers, full.info.num_layers) == (1, 2, 3)
    assert torch.equal(last.load(data, utt), m[:, 32:])
    assert torch.equal(two.load(data, utt), torch.cat([m[:, :16], m[:, 32:]], 1))
    assert last.describe()["layers_read"] == "last"
    with pytest.raises(ValueError, match="inputs.x.layers"):
        open_input("x", {"type": "dump", "name": "audio", "layers": [3]}, root / "dump")


def test_adapter_input_norm_makes_the_adapter_blind_to_each_layers_scale():
    torch.manual_seed(0)
    a = LayerAdapter(num_layers=2, in_dim=4, dim=3, input_norm=True)
    x = torch.randn(1, 5, 8)
    scaled = x.clone()
    scaled[..., 4:] *= 1000  # an outlier layer, as Whisper's
    assert torch.allclose(a(x), a(scaled), atol=1e-4)
    plain = LayerAdapter(num_layers=2, in_dim=4, dim=3)
    assert not torch.allclose(plain(x), plain(scaled), atol=1e-2)
