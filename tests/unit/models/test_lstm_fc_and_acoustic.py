"""System C's acoustic features (names, dims, known signals) and its LSTM + two-FC classifier."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mer.bin import dump_feats
from mer.data.datadir import DataDir
from mer.features import build_extractor, feature_types
from mer.features.acoustic import HANDCRAFTED_NAMES, handcrafted_features
from mer.models import build_model
from mer.inputs import InputInfo

SR = 16000
T = np.arange(SR) / SR


def harmonic(f0: float, amp: float = 0.5, n: int = SR) -> np.ndarray:
    t = np.arange(n) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    return amp * x / np.abs(x).max()


def feats(x: np.ndarray) -> dict[str, float]:
    return dict(zip(HANDCRAFTED_NAMES, handcrafted_features(x)))


@pytest.mark.parametrize("f0", [90.0, 150.0, 220.0, 400.0])
def test_pitch_of_a_harmonic_tone(f0):
    got = feats(harmonic(f0))
    assert got["pitch_mean_hz"] == pytest.approx(f0, rel=0.01)
    assert got["pitch_std_hz"] < 1.0 and got["harmonic_ratio"] > 0.75


def test_energy_pause_and_centroid_of_known_signals():
    loud = feats(0.5 * np.sin(2 * np.pi * 200 * T))
    quiet = feats(0.05 * np.sin(2 * np.pi * 200 * T))
    assert loud["energy_rms_mean"] == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert quiet["energy_rms_mean"] == pytest.approx(0.05 / np.sqrt(2), rel=0.02)
    assert loud["pause_ratio"] == 0.0 and loud["spectral_centroid_mean_hz"] == pytest.approx(200, abs=15)
    half = feats(np.concatenate([0.5 * np.sin(2 * np.pi * 200 * T), np.zeros(SR)]))
    assert half["pause_ratio"] == pytest.approx(0.5, abs=0.02)
    assert half["spectral_centroid_mean_hz"] == pytest.approx(200, abs=15)  # pauses are left out
    noise = feats(0.1 * np.random.default_rng(0).standard_normal(SR))
    assert noise["pitch_mean_hz"] == 0.0 and noise["harmonic_ratio"] < 0.6
    assert noise["spectral_centroid_mean_hz"] > 3000  # white noise: the middle of 0-8 kHz


@pytest.mark.parametrize("name,dim,frames", [("mfcc39", 39, 98), ("handcrafted8", 8, 1), ("egemaps", 88, 1),
                                              ("egemaps-lld", 25, None)])
def test_feature_types_names_and_shapes(name, dim, frames):
    assert name in feature_types()
    ex = build_extractor(name)
    (mat,) = ex([harmonic(200).astype(np.float32)])
    info = ex.info()
    assert mat.shape[1] == dim == info["dim"] == len(info["feature_names"])
    assert mat.dtype == np.float32 and np.all(np.isfinite(mat))
    if frames:
        assert mat.shape[0] == frames
    if name == "egemaps":  # F0 mean in semitones above 27.5 Hz, as openSMILE measures it
        f0 = mat[0, info["feature_names"].index("F0semitoneFrom27.5Hz_sma3nz_amean")]
        assert f0 == pytest.approx(12 * np.log2(200 / 27.5), abs=0.5)
    if name == "mfcc39":  # deltas of a steady tone are ~0 away from the edges
        assert np.abs(mat[10:-10, 13:]).max() < 0.05 * np.abs(mat[10:-10, :13]).max()


def test_dump_feats_writes_handcrafted_with_names(tmp_path):
    import soundfile as sf

    data = tmp_path / "data"
    dd = DataDir()
    for i, f0 in enumerate((120.0, 240.0)):
        wav = tmp_path / f"u{i}.wav"
        sf.write(wav, harmonic(f0), SR, subtype="PCM_16")
        dd.add(f"u{i}", "s1", wav=str(wav), emo="neu")
    dd.save(data)
    out = tmp_path / "dump"
    assert dump_feats.main(["--feature", "handcrafted8", str(data), str(out)]) == 0
    info = json.loads((out / "feats_info.json").read_text())
    assert info["feature_names"] == list(HANDCRAFTED_NAMES) and info["dim"] == 8
    import kaldiio

    mats = dict(kaldiio.load_scp(str(out / "feats.scp")))
    assert mats["u1"].shape == (1, 8) and mats["u1"][0, 0] == pytest.approx(240, rel=0.01)


def _batch(seqs: list[torch.Tensor], name: str) -> dict:
    return {name: torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True),
            f"{name}_lengths": torch.tensor([len(s) for s in seqs])}


@pytest.mark.slow
@pytest.mark.parametrize("stride", [1, 3])
def test_lstm_fc_ignores_padding_and_learns(stride):
    torch.manual_seed(0)
    model = build_model({"name": "lstm_fc", "inputs": ["audio"], "lstm_hidden": 16, "fc_hidden": 8,
                         "frame_stride": stride, "summary": "mean" if stride > 1 else "last"},
                        3, {"audio": InputInfo("dump", dim=6, num_layers=2)})
    seqs = [torch.randn(n, 12) for n in (5, 9, 3)]
    model.eval()
    together = model(_batch(seqs, "audio")).logits
    alone = torch.cat([model(_batch([s], "audio")).logits for s in seqs])
    assert torch.allclose(together, alone, atol=1e-5)
    model.train()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    labels = torch.tensor([0, 1, 2])
    first = None
    for _ in range(30):
        loss = model.loss(model(_batch(seqs, "audio")), labels).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_lstm_fc_several_utterance_vectors_side_by_side():
    infos = {"mfcc": InputInfo("dump", dim=39), "hand": InputInfo("dump", dim=8), "gemaps": InputInfo("dump", dim=88)}
    model = build_model({"name": "lstm_fc", "inputs": ["mfcc", "hand", "gemaps"], "frames": "mean"}, 2, infos)
    batch = {**_batch([torch.randn(40, 39), torch.randn(20, 39)], "mfcc"),
             **_batch([torch.randn(1, 8), torch.randn(1, 8)], "hand"),
             **_batch([torch.randn(1, 88), torch.randn(1, 88)], "gemaps")}
    out = model(batch)
    assert out.logits.shape == (2, 2) and out.embedding.shape == (2, 128)
    model.train()
    one = {k: v[:1] for k, v in batch.items()}
    assert model(one).logits.shape == (1, 2)  # a last training batch of one vector
    with pytest.raises(ValueError, match="frames must be 'mean'"):
        build_model({"name": "lstm_fc", "inputs": ["mfcc", "hand"]}, 2, infos)
