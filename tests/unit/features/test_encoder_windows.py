"""Speech encoders on long, short and silent audio, and batched group-norm encoders.

Tiny random transformers models of the real classes: wav2vec 2.0, HuBERT and WavLM with the base
models' group-norm front end, and Whisper. Long recordings are encoded in consecutive windows by one
function (mer.features.windows) for dumps and recognition; group-norm encoders run their front end
per utterance and their transformer layers batched.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from mer.data.datadir import DataDir
from tests.helpers import REPO

torch = pytest.importorskip("torch")
tr = pytest.importorskip("transformers")

SR = 16000
HIDDEN = 32
SSL = ("hubert", "wav2vec2", "wavlm")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    common = dict(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                  feat_extract_norm="group", do_stable_layer_norm=False)
    tr.HubertModel(tr.HubertConfig(**common)).save_pretrained(root / "hubert")  # bare dir: raw samples
    tr.Wav2Vec2Model(tr.Wav2Vec2Config(**common)).save_pretrained(root / "wav2vec2")
    tr.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SR, padding_value=0.0, do_normalize=True,
                                return_attention_mask=False).save_pretrained(root / "wav2vec2")
    tr.WavLMModel(tr.WavLMConfig(**common, num_buckets=32)).save_pretrained(root / "wavlm")
    tr.WhisperModel(tr.WhisperConfig(
        d_model=HIDDEN, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80, vocab_size=100, max_target_positions=32,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )).save_pretrained(root / "whisper")
    tr.WhisperFeatureExtractor(feature_size=80).save_pretrained(root / "whisper")
    return root


def speech(seconds: float, seed: int = 0) -> np.ndarray:
    """A voice-like signal: harmonics of a wandering pitch, amplitude-modulated, some noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (0.1 * x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def encoder(models, name, **kw):
    from mer.features.hf import HFSpeechEncoder

    return HFSpeechEncoder(str(models / name), layers="all", device="cpu", **kw)


def forward_inputs(enc) -> list[tuple[int, ...]]:
    """The shapes of the inputs the encoder's model is called with, from now on."""
    shapes: list[tuple[int, ...]] = []
    enc.model.register_forward_pre_hook(lambda module, args: shapes.append(tuple(args[0].shape)))
    return shapes


def windowed(enc, waves: dict[str, np.ndarray], batch_size=8, max_seconds=120.0):
    from mer.features.windows import encode_in_windows

    failed: dict[str, str] = {}
    items = [(u, w, len(w) / SR) for u, w in waves.items()]
    return dict(encode_in_windows(enc, items, batch_size, max_seconds, failed)), failed


# ---------------------------------------------------------------- group norm, batched

@pytest.mark.parametrize("name", SSL)
def test_group_norm_batched_equals_one_at_a_time(models, name):
    """Utterances of 0.1 s to 9 s in one batch: every hidden state equals the plain transformers
    model run on that utterance alone, to 1e-5."""
    enc = encoder(models, name)
    assert enc.group_norm and enc.batchable
    waves = [speech(s, seed=i) for i, s in enumerate((0.1, 9.0, 1.3, 3.7))]
    calls = forward_inputs(enc)
    batched = enc(waves)
    assert calls == [(4, len(waves[1]))]  # one padded batch
    model = tr.AutoModel.from_pretrained(models / name).eval()
    fe = tr.AutoFeatureExtractor.from_pretrained(models / name) if name == "wav2vec2" else None
    for w, got in zip(waves, batched):
        x = fe(w, sampling_rate=SR, return_tensors="pt").input_values if fe else torch.from_numpy(w)[None]
        with torch.inference_mode():
            out = model(x, output_hidden_states=True)
        ref = torch.cat([*out.hidden_states[:-1], out.last_hidden_state], dim=-1)[0].numpy()
        assert got.shape == ref.shape == (int(model._get_feat_extract_output_lengths(len(w))), 3 * HIDDEN)
        np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)


def test_padding_the_plain_model_would_change_group_norm(models):
    """Why the front end runs per utterance: padded through the plain model, a short utterance's
    features move far more than 1e-5 even with an attention mask."""
    model = tr.AutoModel.from_pretrained(models / "hubert").eval()
    short, long_ = speech(1.0), speech(4.0, seed=1)
    x = torch.zeros(2, len(long_))
    x[0, :len(short)], x[1] = torch.from_numpy(short), torch.from_numpy(long_)
    mask = (torch.arange(len(long_))[None] < torch.tensor([[len(short)], [len(long_)]])).long()
    with torch.inference_mode():
        alone = model(torch.from_numpy(short)[None]).last_hidden_state[0]
        padded = model(x, attention_mask=mask).last_hidden_state[0, :alone.shape[0]]
    assert float((alone - padded).abs().max()) > 1e-2


# ---------------------------------------------------------------- long audio in windows

def test_whisper_long_recording_covers_every_window(models):
    """A 5 s recording under a 2 s window: 3 windows, their frames joined (250 frames of 20 ms); the
    first window's frames are those of its 2 s alone; changing only the last second changes only
    the last window's frames, and the pooled features."""
    enc = encoder(models, "whisper", whisper_input_seconds=2)
    wave = speech(5.0)
    changed = wave.copy()
    changed[4 * SR:] = speech(1.0, seed=7)
    feats, failed = windowed(enc, {"a": wave, "b": changed})
    assert not failed
    assert feats["a"].shape == (250, 3 * HIDDEN)
    np.testing.assert_allclose(feats["a"][:100], enc([wave[:2 * SR]])[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(feats["a"][:200], feats["b"][:200], atol=1e-6, rtol=0)
    assert np.abs(feats["a"][200:] - feats["b"][200:]).max() > 1e-3
    assert np.abs(feats["a"].mean(0) - feats["b"].mean(0)).max() > 1e-4


@pytest.mark.parametrize("name", ["hubert", "wavlm"])
def test_ssl_windows_give_the_frames_of_the_whole_recording(models, monkeypatch, name):
    """With a 1 s window, a 3.3 s recording gets as many frames as the model gives it whole (the
    windows overlap by receptive field - stride); window 2's frames are those of its samples alone;
    the second half changed -> the later frames and the pooled features change, the first not."""
    from mer.features import hf

    monkeypatch.setattr(hf, "SSL_WINDOW_SECONDS", 1.0)
    enc = encoder(models, name)
    field, stride = hf.conv_front_end_geometry(enc.model.config)
    assert (field, stride) == (400, 320)  # the base models' front end
    wave = speech(3.3)
    changed = wave.copy()
    changed[len(wave) // 2:] *= -0.5
    feats, failed = windowed(enc, {"a": wave, "b": changed})
    assert not failed
    n = int(enc.model._get_feat_extract_output_lengths(len(wave)))
    assert feats["a"].shape == (n, 3 * HIDDEN)
    step = enc.audio_window.step
    assert step == SR and enc.audio_window.overlap == 80
    frames_per_window = step // stride
    second = enc([wave[step:2 * step + 80]])[0]
    np.testing.assert_allclose(feats["a"][frames_per_window:2 * frames_per_window], second, atol=1e-5, rtol=0)
    np.testing.assert_allclose(feats["a"][:frames_per_window], feats["b"][:frames_per_window], atol=1e-6)
    assert np.abs(feats["a"].mean(0) - feats["b"].mean(0)).max() > 1e-3


def test_memory_stays_flat_with_length(models, monkeypatch):
    """Whatever the recording's length, the model never sees more than one batch of windows
    (batch size and summed seconds capped): a 4 s and a 16 s recording reach the same largest input;
    the number of calls, and the frames, grow with the length."""
    from mer.features import hf

    monkeypatch.setattr(hf, "SSL_WINDOW_SECONDS", 1.0)
    seen = {}
    for seconds in (4, 16):
        enc = encoder(models, "hubert")
        calls = forward_inputs(enc)
        feats, _ = windowed(enc, {"r": speech(seconds)}, batch_size=8, max_seconds=2.5)
        seen[seconds] = (max(int(np.prod(s)) for s in calls), len(calls), feats["r"].shape[0])
    (peak4, calls4, frames4), (peak16, calls16, frames16) = seen[4], seen[16]
    assert peak4 == peak16 <= 2 * (SR + 80)  # two 1 s windows (+ overlap) fit in 2.5 s
    assert calls16 >= 4 * calls4 - 1 and frames16 > 3.9 * frames4


def test_window_spans_tile_and_drop_a_frameless_tail():
    from mer.features.windows import Window

    w = Window(step=10, overlap=2, min_samples=3)
    assert w.spans(35) == [(0, 12), (10, 22), (20, 32), (30, 35)]
    assert w.spans(31) == [(0, 12), (10, 22), (20, 31)]  # the tail 30-31 is shorter than one frame
    assert w.spans(2) == [] and Window(step=10).spans(1) == [(0, 1)]


def test_a_failing_window_fails_its_utterance_naming_the_window():
    """A window that breaks the encoder: its recording fails, the reason names the window; the other
    recordings of the batch are still encoded."""
    from mer.features.windows import Window, encode_in_windows

    class BreaksOnNegative:  # a stand-in encoder: 1 frame per 10 samples
        audio_window = Window(step=10)

        def __call__(self, waves):
            if any((w < 0).any() for w in waves):
                raise RuntimeError("negative sample")
            return [np.full((len(w) // 10 or 1, 1), w[0], np.float32) for w in waves]

    bad = np.arange(35, dtype=np.float32)
    bad[25] = -1
    failed: dict[str, str] = {}
    out = dict(encode_in_windows(BreaksOnNegative(), [("bad", bad, 1.0), ("ok", np.arange(35, dtype=np.float32), 1.0)],
                                 batch_size=8, max_seconds=float("inf"), failed=failed))
    assert list(out) == ["ok"] and out["ok"][:, 0].tolist() == [0, 10, 20, 30]
    assert list(failed) == ["bad"] and failed["bad"].startswith("window 3 of 4") and "negative sample" in failed["bad"]


def test_too_short_for_one_frame_fails_clearly_others_go_on(models):
    enc = encoder(models, "hubert")
    feats, failed = windowed(enc, {"tiny": speech(0.01), "ok": speech(0.5)})
    assert list(feats) == ["ok"]
    assert "0.010 s" in failed["tiny"] and "receptive field (0.025 s)" in failed["tiny"]


def test_dump_encodes_a_long_utterance_in_windows(models, tmp_path):
    """dump_feats: a 5 s utterance under a 2 s Whisper window is dumped whole (250 frames) and
    equals what the shared windowing function gives (the recogniser's path)."""
    from mer.bin import dump_feats

    sf.write(tmp_path / "long.wav", speech(5.0), SR)
    sf.write(tmp_path / "short.wav", speech(1.0, seed=3), SR)
    d = DataDir()
    d.add("long", "s", wav=str(tmp_path / "long.wav"), text="x")
    d.add("short", "s", wav=str(tmp_path / "short.wav"), text="x")
    d.save(tmp_path / "data")
    out = tmp_path / "dump"
    assert dump_feats.main(["--feature", "hf", "--model", str(models / "whisper"), "--layers", "all",
                            "--whisper-input-seconds", "2", "--device", "cpu", str(tmp_path / "data"), str(out)]) == 0
    dumped = dict(kaldiio.load_scp(str(out / "feats.scp")))
    assert dumped["long"].shape == (250, 3 * HIDDEN) and dumped["short"].shape == (50, 3 * HIDDEN)
    direct, _ = windowed(encoder(models, "whisper", whisper_input_seconds=2),
                         {"long": sf.read(tmp_path / "long.wav", dtype="float32")[0]})
    np.testing.assert_allclose(dumped["long"], direct["long"], atol=1e-5, rtol=0)
    assert json.loads((out / "feats_info.json").read_text())["window_seconds"] == 2.0


# ---------------------------------------------------------------- the recogniser's notes

@pytest.fixture(scope="module")
def whisper_pack(models, tmp_path_factory):
    """A pack of an audio-only model (random weights) on Whisper frames with a 2 s window."""
    import yaml

    from mer.models import build_model
    from mer.packing import Bundle, write_archive
    from mer.recognizer import input_info
    from mer.train.config import load_config
    from mer.inputs import normalize_input_spec

    tmp = tmp_path_factory.mktemp("pack")
    (tmp / "train.yaml").write_text(yaml.safe_dump(
        {"model": {"name": "audio_only", "dim": 16, "head_hidden": 16}, "inputs": {"audio": "w"}}))
    conf = load_config(tmp / "train.yaml")
    classes = ["ang", "hap", "neu", "sad"]
    rec = {"spec": normalize_input_spec("audio", "w"), "kind": "audio",
           "features": {"feature": "hf", "model": str(models / "whisper"), "layers": "last",
                        "whisper_input_seconds": 2.0},
           "feats_info": {"dim": HIDDEN, "num_layers_stored": 1}}
    torch.manual_seed(0)
    model = build_model(conf["model"], len(classes), {"audio": input_info(rec)})
    bundle = Bundle(conf=conf, classes=classes, state={"model": model.state_dict()}, inputs={"audio": rec},
                    info={"format": 1, "system": "audio_only", "config": "random", "fold": None, "source": "a test",
                          "created": "now", "checkpoint_epoch": 0, "best_metric": {}})
    return write_archive(bundle, tmp / "w.tar.gz")


@pytest.mark.slow
def test_recognizer_flags_short_silent_and_windowed_recordings(whisper_pack, tmp_path):
    """mer-recognize on a 10 ms, a silent 5 s, a 5 s and a 1 s recording: each doubtful one gets a
    label and a note in `differs` and on stderr; the 1 s one none."""
    files = {"tiny": speech(0.01), "silent": np.zeros(5 * SR, np.float32), "long": speech(5.0),
             "fine": speech(1.0, seed=2)}
    for name, wave in files.items():
        sf.write(tmp_path / f"{name}.wav", wave, SR)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "mer.bin.recognize", "--device", "cpu", "--model", str(whisper_pack),
                           *(str(tmp_path / f"{n}.wav") for n in files)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    results = {r["utt"].rsplit("/", 1)[-1][:-4]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert set(results) == set(files)
    assert set(results["tiny"]["differs"]) == {"recording.short"}
    assert "0.010 s" in results["tiny"]["differs"]["recording.short"]
    assert set(results["silent"]["differs"]) == {"recording.silent", "audio.windows"}
    assert set(results["long"]["differs"]) == {"audio.windows"}
    assert "3 consecutive windows" in results["long"]["differs"]["audio.windows"]
    assert results["fine"]["differs"] == {}
    for name in ("tiny", "silent", "long"):
        for note in results[name]["differs"].values():
            assert note in proc.stderr
    assert results["long"]["seconds"] == 5.0


def test_recording_notes_thresholds():
    from mer.recording_notes import cut_note, short_or_silent

    quiet = np.full(SR, 0.0009, np.float32)  # -61 dBFS
    assert set(short_or_silent(quiet, 0.025)) == {"recording.silent"}
    assert "-61 dBFS" in short_or_silent(quiet, 0.025)["recording.silent"]
    assert short_or_silent(np.full(SR, 0.002, np.float32), 0.025) == {}  # -54 dBFS: sound
    assert set(short_or_silent(speech(0.02), 0.025)) == {"recording.short"}
    assert short_or_silent(speech(0.03), 0.025) == {}
    assert cut_note(10 * SR, SR, 10.0) is None
    assert "remaining 2.5 s" in cut_note(int(12.5 * SR), SR, 10.0)
