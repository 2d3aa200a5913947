"""`python -m mer.bin.dump_feats` on data dirs of good and broken audio: exit status, the `failed` list,
feats.scp/utt2num_frames, frame counts, re-runs, --nj, and the transformers encoders (tiny random
models written with save_pretrained, so the real from_pretrained path runs; nothing is downloaded)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.helpers.audio import chunk, kaldi_num_frames, list_info_chunk, resampled_length, sine, to_int, write_riff
from mer.bin import dump_feats
from mer.features import batching
from mer.data.audio import load_utterance
from mer.data.datadir import DataDir, Segment

from tests.helpers import REPO
from tests.helpers.dumps import cli_env, load_feats, read_failed

VENV_FFMPEG = REPO / ".venv" / "bin" / "ffmpeg"
HIDDEN = 32
NUM_LAYERS = 2


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mer.bin.dump_feats", *map(str, args)], cwd=REPO,
                          env=cli_env(), capture_output=True, text=True, timeout=timeout)


def run_main(*args: str) -> int:
    return dump_feats.main([str(a) for a in args])


# --------------------------------------------------------------------------- the mixed corpus

@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A data dir of good files in many formats and rates, and broken ones.
    Returns (data dir, {good utt: samples at 16 kHz}, {broken utt: words its reason must hold})."""
    root = tmp_path_factory.mktemp("mixed")
    wav = root / "wav"
    wav.mkdir()
    d = DataDir()
    good: dict[str, int] = {}  # utt -> number of samples at 16 kHz (as the files are)

    def add_good(utt, spec, n_src, sr):
        d.add(utt, utt.split("-")[0], wav=spec, emo="neu")
        good[utt] = resampled_length(n_src, sr)

    write_riff(wav / "a.wav", to_int(sine(8000, 16000, 300, .5), 16), 16000, 16)
    add_good("spk1-pcm16", str(wav / "a.wav"), 8000, 16000)
    write_riff(wav / "b.wav", to_int(sine(15435, 22050, 300, .5), 24), 22050, 24)
    add_good("spk1-pcm24-22k", str(wav / "b.wav"), 15435, 22050)
    write_riff(wav / "c.wav", to_int(sine(3200, 8000, 300, .5), 32), 8000, 32)
    add_good("spk1-pcm32-8k", str(wav / "c.wav"), 3200, 8000)
    x = np.stack([sine(43200, 48000, 300, .5), sine(43200, 48000, 500, .2)], axis=1)
    write_riff(wav / "d.wav", x, 48000, 32, is_float=True, extensible=True)
    add_good("spk2-float-48k-stereo", str(wav / "d.wav"), 43200, 48000)
    write_riff(wav / "e.wav", to_int(sine(17600, 16000, 200, .3), 16), 16000, 16,
               before_data=[list_info_chunk(ISFT="x"), chunk(b"PAD ", b"\x00" * 1001)])
    add_good("spk2-pad-chunk", str(wav / "e.wav"), 17600, 16000)
    x = np.stack([sine(26460, 44100, 300, .5), sine(26460, 44100, 300, .3)], axis=1)
    write_riff(wav / "f.wav", to_int(x, 16), 44100, 16)
    add_good("spk3-cat-pipe", f"cat {wav / 'f.wav'} |", 26460, 44100)
    sf.write(wav / "g.flac", sine(4800, 16000, 300, .5), 16000, subtype="PCM_16")
    add_good("spk3-flac", str(wav / "g.flac"), 4800, 16000)
    if VENV_FFMPEG.is_file():
        add_good("spk3-ffmpeg-44k-stereo",
                 f"{VENV_FFMPEG} -nostdin -v error -i {wav / 'f.wav'} -ac 1 -ar 16000 -f wav - |", 26460, 44100)

    broken: dict[str, list[str]] = {}
    raw = (wav / "a.wav").read_bytes()
    (wav / "trunc.wav").write_bytes(raw[:30])
    (wav / "zero.wav").write_bytes(b"")
    (wav / "text.wav").write_text("not audio at all\n" * 30)
    write_riff(wav / "empty.wav", np.zeros(0, dtype=np.int16), 16000, 16)
    write_riff(wav / "short.wav", to_int(sine(300, 16000, 300, .5), 16), 16000, 16)
    for utt, spec, words in [
        ("bad-truncated", wav / "trunc.wav", ["trunc.wav", "not a readable audio file"]),
        ("bad-zero-length", wav / "zero.wav", ["zero.wav", "not a readable audio file"]),
        ("bad-not-audio", wav / "text.wav", ["text.wav", "not a readable audio file"]),
        ("bad-missing", wav / "missing.wav", ["missing.wav", "not found"]),
        ("bad-empty-data", wav / "empty.wav", ["empty.wav", "no samples"]),
        ("bad-pipe", f"cat {wav / 'nowhere.wav'} |", ["nowhere.wav", "exited with code 1"]),
        ("bad-too-short", wav / "short.wav", ["300 samples", "shorter than"]),  # well-formed but shorter than one 25 ms frame
    ]:
        d.add(utt, "bad", wav=str(spec), emo="neu")
        broken[utt] = words
    d.add("bad-no-wav-entry", "bad", emo="neu")  # in utt2spk, not in wav.scp
    broken["bad-no-wav-entry"] = ["wav.scp"]
    data = root / "data"
    d.save(data)
    return data, good, broken


def expected_samples(data: Path, good: dict[str, int]) -> dict[str, int]:
    dd = DataDir.load(data)
    n = {u: len(load_utterance(dd, u)) for u in good}
    for u in good:
        assert abs(n[u] - good[u]) <= 1, (u, n[u], good[u])
    return n


def check_failed(out: Path, broken: dict[str, list[str]]) -> None:
    failed = read_failed(out)
    assert set(failed) == set(broken)
    for utt, words in broken.items():
        for w in words:
            assert w in failed[utt], (utt, failed[utt])
        if utt != "bad-too-short":  # audio errors name the utterance too
            assert utt in failed[utt]


@pytest.mark.slow
def test_cli_mixed_good_and_broken(mixed, tmp_path):
    data, good, broken = mixed
    out = tmp_path / "fbank"
    r = run_cli("--feature", "fbank", data, out)
    assert r.returncode == 1, r.stderr
    assert "failed" in r.stderr and str(out / "failed") in r.stderr
    check_failed(out, broken)
    feats = load_feats(out)
    assert set(feats) == set(good)
    n = expected_samples(data, good)
    for utt, mat in feats.items():
        assert mat.shape == (kaldi_num_frames(n[utt]), 80), utt
        assert mat.shape[0] == 1 + (n[utt] - 400) // 160
    # The stored matrices are the extractor's output on the loader's audio.
    from mer.features.signal import FbankExtractor

    dd = DataDir.load(data)
    ref = FbankExtractor()([load_utterance(dd, "spk2-pad-chunk")])[0]
    np.testing.assert_array_equal(feats["spk2-pad-chunk"], ref)
    info = json.loads((out / "feats_info.json").read_text())
    assert info["num_utts"] == len(good) and info["num_failed"] == len(broken) and info["dim"] == 80

    # A re-run skips the finished job: the ark is not rewritten; the exit status stays the same.
    ark = out / "split1" / "feats.1.ark"
    stamp = ark.stat().st_mtime_ns
    r2 = run_cli("--feature", "fbank", data, out)
    assert r2.returncode == 1
    assert "already done" in r2.stderr
    assert ark.stat().st_mtime_ns == stamp
    check_failed(out, broken)
    assert {k: v.tobytes() for k, v in load_feats(out).items()} == {k: v.tobytes() for k, v in feats.items()}
    # Tolerating failures on the finished dump: exit 0, the same list.
    r3 = run_cli("--feature", "fbank", "--tolerate-failures", data, out)
    assert r3.returncode == 0, r3.stderr
    assert ark.stat().st_mtime_ns == stamp
    check_failed(out, broken)


def test_tolerate_failures_fresh(mixed, tmp_path):
    data, good, broken = mixed
    out = tmp_path / "fbank"
    assert run_main("--feature", "fbank", "--tolerate-failures", data, out) == 0
    check_failed(out, broken)
    assert set(load_feats(out)) == set(good)


def test_all_good_exits_zero_with_empty_failed(mixed, tmp_path):
    data, good, _ = mixed
    sub = tmp_path / "data"
    DataDir.load(data).subset(list(good)[:3]).save(sub)
    out = tmp_path / "out"
    assert run_main("--feature", "fbank", sub, out) == 0
    assert (out / "failed").read_text() == ""
    assert len(load_feats(out)) == 3


@pytest.mark.parametrize("feature,dim", [("mfcc", 13), ("logmel", 80)])
def test_mfcc_logmel(mixed, tmp_path, feature, dim):
    data, good, broken = mixed
    out = tmp_path / feature
    assert run_main("--feature", feature, "--tolerate-failures", data, out) == 0
    feats = load_feats(out)
    failed = read_failed(out)
    n = expected_samples(data, good)
    if feature == "mfcc":
        assert set(failed) == set(broken) and set(feats) == set(good)
    else:  # a centred STFT gives frames for audio shorter than 25 ms too
        assert set(failed) == set(broken) - {"bad-too-short"} and set(feats) == set(good) | {"bad-too-short"}
        assert feats.pop("bad-too-short").shape == (1 + 300 // 160, dim)
    for utt, mat in feats.items():
        frames = kaldi_num_frames(n[utt]) if feature == "mfcc" else 1 + n[utt] // 160
        assert mat.shape == (frames, dim), utt


def test_segments(tmp_path):
    values = to_int(sine(16000, 16000, 300, .5), 16)
    write_riff(tmp_path / "rec.wav", values, 16000, 16)
    d = DataDir()
    d.add("rec-a", "s", wav=str(tmp_path / "rec.wav"), segment=Segment("rec", 0.1, 0.6))
    d.add("rec-b", "s", segment=Segment("rec", -0.01, 0.3))
    d.add("rec-c", "s", segment=Segment("rec", 0.7, 1.03))  # 30 ms past the end: tolerated
    d.add("rec-d", "s", segment=Segment("rec", 0.8, 1.5))  # far past the end
    d.save(tmp_path / "data")
    out = tmp_path / "out"
    assert run_main("--feature", "fbank", tmp_path / "data", out) == 1
    feats = load_feats(out)
    assert {u: m.shape[0] for u, m in feats.items()} == {
        "rec-a": kaldi_num_frames(8000), "rec-b": kaldi_num_frames(4800), "rec-c": kaldi_num_frames(4800)}
    failed = read_failed(out)
    assert list(failed) == ["rec-d"] and "outside" in failed["rec-d"] and "rec.wav" in failed["rec-d"]


@pytest.mark.slow
def test_nj2_same_as_nj1(mixed, tmp_path):
    if not (REPO / "mer" / "bin" / "run_jobs.py").is_file():
        pytest.skip("mer/bin/run_jobs.py (the local job backend) does not exist yet")
    data, good, broken = mixed
    one, two = tmp_path / "nj1", tmp_path / "nj2"
    assert run_main("--feature", "fbank", "--tolerate-failures", data, one) == 0
    r = run_cli("--feature", "fbank", "--nj", "2", data, two)
    assert r.returncode == 1, r.stderr
    for j in (1, 2):
        assert (two / "log" / f"dump.{j}.log").is_file()
        assert (two / "split2" / f".done.{j}").is_file()
    assert read_failed(two) == read_failed(one)
    check_failed(two, broken)
    f1, f2 = load_feats(one), load_feats(two)
    assert set(f1) == set(f2) == set(good)
    for utt in f1:
        np.testing.assert_array_equal(f1[utt], f2[utt])
    assert (two / "utt2num_frames").read_text() == (one / "utt2num_frames").read_text()
    info = json.loads((two / "feats_info.json").read_text())
    assert info["nj"] == 2 and info["num_utts"] == len(good) and info["num_failed"] == len(broken)
    # The two jobs split the utterances (here job 1 holds only broken ones: an empty ark is fine).
    per_job = []
    for j in (1, 2):
        keys = [ln.split()[0] for f in (f"feats.{j}.scp", f"failed.{j}")
                for ln in (two / "split2" / f).read_text().splitlines() if ln.strip()]
        assert keys, f"job {j} did nothing"
        per_job.append(set(keys))
    assert not per_job[0] & per_job[1] and per_job[0] | per_job[1] == set(good) | set(broken)

    # A re-run skips both finished jobs; a removed marker re-runs that job only.
    arks = [two / "split2" / f"feats.{j}.ark" for j in (1, 2)]
    stamps = [a.stat().st_mtime_ns for a in arks]
    r2 = run_cli("--feature", "fbank", "--nj", "2", "--tolerate-failures", data, two)
    assert r2.returncode == 0, r2.stderr
    assert "already done" in r2.stderr
    assert [a.stat().st_mtime_ns for a in arks] == stamps
    assert read_failed(two) == read_failed(one)
    (two / "split2" / ".done.2").unlink()  # as if job 2 had died
    assert run_cli("--feature", "fbank", "--nj", "2", "--tolerate-failures", data, two).returncode == 0
    assert arks[0].stat().st_mtime_ns == stamps[0] and arks[1].stat().st_mtime_ns != stamps[1]
    assert read_failed(two) == read_failed(one)
    f2 = load_feats(two)
    assert set(f2) == set(f1) and all(np.array_equal(f1[u], f2[u]) for u in f1)


def test_batches_are_length_sorted():
    items = [(f"u{i}", None, s) for i, s in enumerate([5.0, 1.0, 3.0, 2.0, 4.0, 0.5, 9.0])]
    batches = list(batching.length_batches(items, batch_size=3, max_seconds=10.0))
    flat = [b[2] for batch in batches for b in batch]
    assert flat == sorted(flat) and len(flat) == len(items)
    assert all(len(b) <= 3 for b in batches)
    assert all(sum(x[2] for x in b) <= 10.0 or len(b) == 1 for b in batches)


def test_extract_isolates_the_failing_utterance():
    class Flaky:
        def __call__(self, waves):
            if any(len(w) == 3 for w in waves):
                raise RuntimeError("boom")
            return [np.ones((len(w), 2), np.float32) for w in waves]

    failed: dict[str, str] = {}
    batch = [("a", np.zeros(2), 0), ("b", np.zeros(3), 0), ("c", np.zeros(4), 0)]
    out = batching.extract_isolated(Flaky(), batch, failed)
    assert [u for u, _ in out] == ["a", "c"]
    assert list(failed) == ["b"] and "boom" in failed["b"]


# --------------------------------------------------------------------------- transformers encoders

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch = pytest.importorskip("torch")
    tr = pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    common = dict(hidden_size=HIDDEN, num_hidden_layers=NUM_LAYERS, num_attention_heads=2, intermediate_size=64,
                  conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    tr.HubertModel(tr.HubertConfig(**common)).save_pretrained(root / "hubert")  # group norm, no extractor
    tr.Wav2Vec2Model(tr.Wav2Vec2Config(**common, feat_extract_norm="layer", do_stable_layer_norm=True)) \
        .save_pretrained(root / "wav2vec2")
    tr.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                return_attention_mask=True).save_pretrained(root / "wav2vec2")
    tr.WavLMModel(tr.WavLMConfig(**common, num_buckets=32)).save_pretrained(root / "wavlm")  # group norm
    tr.WavLMModel(tr.WavLMConfig(**common, num_buckets=32, feat_extract_norm="layer", do_stable_layer_norm=True)) \
        .save_pretrained(root / "wavlm_ln")  # layer norm (large-style), bare dir: raw waveforms + mask
    tr.WhisperModel(tr.WhisperConfig(
        d_model=HIDDEN, encoder_layers=NUM_LAYERS, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80, vocab_size=100,
        max_target_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )).save_pretrained(root / "whisper")
    tr.WhisperFeatureExtractor(feature_size=80).save_pretrained(root / "whisper")

    words = ("[PAD] [UNK] [CLS] [SEP] [MASK] i am so happy sad angry today the hello world "
             "what a day it is not fine").split()
    (root / "vocab.txt").write_text("\n".join(words) + "\n")
    tr.BertTokenizerFast(vocab_file=str(root / "vocab.txt"), do_lower_case=True).save_pretrained(root / "bert")
    tr.BertModel(tr.BertConfig(vocab_size=len(words), hidden_size=HIDDEN, num_hidden_layers=NUM_LAYERS,
                               num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)) \
        .save_pretrained(root / "bert")
    return root


@pytest.fixture(scope="module")
def speech_data(tmp_path_factory):
    """Three good utterances of different lengths (one resampled, one stereo) and a broken one."""
    root = tmp_path_factory.mktemp("speech")
    write_riff(root / "a.wav", to_int(sine(8000, 16000, 300, .5), 16), 16000, 16)
    write_riff(root / "b.wav", to_int(sine(12345, 16000, 500, .4), 16), 16000, 16)
    x = np.stack([sine(24255, 22050, 300, .5), sine(24255, 22050, 700, .2)], axis=1)
    write_riff(root / "c.wav", to_int(x, 24), 22050, 24)
    (root / "bad.wav").write_text("not audio")
    d = DataDir()
    for utt, f in (("u1", "a.wav"), ("u2", "b.wav"), ("u3", "c.wav"), ("u4-bad", "bad.wav")):
        d.add(utt, "s", wav=str(root / f), text="hello world")
    d.save(root / "data")
    dd = DataDir.load(root / "data")
    waves = {u: load_utterance(dd, u) for u in ("u1", "u2", "u3")}
    return root / "data", waves


def dump_hf(model_dir: Path, data: Path, out: Path, *extra: str) -> dict[str, np.ndarray]:
    assert run_main("--feature", "hf", "--model", model_dir, "--device", "cpu", *extra, data, out) == 1
    failed = read_failed(out)
    assert list(failed) == ["u4-bad"] and "bad.wav" in failed["u4-bad"]
    return load_feats(out)


@pytest.mark.parametrize("name,cls", [("hubert", "HubertModel"), ("wav2vec2", "Wav2Vec2Model"),
                                      ("wavlm", "WavLMModel")])
def test_hf_ssl(models, speech_data, tmp_path, name, cls):
    import torch
    import transformers as tr

    data, waves = speech_data
    feats = dump_hf(models / name, data, tmp_path / "out")
    model = getattr(tr, cls).from_pretrained(models / name).eval()
    fe = None
    if (models / name / "preprocessor_config.json").is_file():
        fe = tr.AutoFeatureExtractor.from_pretrained(models / name)
    assert set(feats) == set(waves)
    for utt, w in waves.items():
        n_frames = int(model._get_feat_extract_output_lengths(torch.tensor(len(w))))
        assert feats[utt].shape == (n_frames, HIDDEN), utt
        # The stored features equal the model run alone on that utterance (no padding effects).
        x = fe(w, sampling_rate=16000, return_tensors="pt").input_values if fe else torch.from_numpy(w)[None]
        with torch.inference_mode():
            ref = model(x).last_hidden_state[0].numpy()
        np.testing.assert_allclose(feats[utt], ref, atol=2e-4, rtol=0)
    info = json.loads((tmp_path / "out" / "feats_info.json").read_text())
    assert info["num_layers_stored"] == 1 and info["dim"] == HIDDEN


def test_hf_whisper(models, speech_data, tmp_path):
    import torch
    import transformers as tr

    data, waves = speech_data
    feats = dump_hf(models / "whisper", data, tmp_path / "out")
    enc = tr.WhisperModel.from_pretrained(models / "whisper").get_encoder().eval()
    fe = tr.WhisperFeatureExtractor.from_pretrained(models / "whisper")
    for utt, w in waves.items():
        n = math.ceil(len(w) / 320)
        assert feats[utt].shape == (n, HIDDEN), utt
        with torch.inference_mode():
            ref = enc(fe(w, sampling_rate=16000, return_tensors="pt").input_features).last_hidden_state[0, :n]
        np.testing.assert_allclose(feats[utt], ref.numpy(), atol=2e-4, rtol=0)


def test_hf_layers(models, speech_data, tmp_path):
    data, waves = speech_data
    last = dump_hf(models / "wav2vec2", data, tmp_path / "last")
    every = dump_hf(models / "wav2vec2", data, tmp_path / "all", "--layers", "all")
    picked = dump_hf(models / "wav2vec2", data, tmp_path / "pick", "--layers", "0,2")
    info = json.loads((tmp_path / "all" / "feats_info.json").read_text())
    assert info["num_layers_stored"] == NUM_LAYERS + 1
    assert json.loads((tmp_path / "pick" / "feats_info.json").read_text())["num_layers_stored"] == 2
    for utt in waves:
        assert every[utt].shape == (last[utt].shape[0], (NUM_LAYERS + 1) * HIDDEN)
        assert picked[utt].shape == (last[utt].shape[0], 2 * HIDDEN)
        np.testing.assert_allclose(every[utt][:, -HIDDEN:], last[utt], atol=1e-5)
        np.testing.assert_allclose(picked[utt][:, :HIDDEN], every[utt][:, :HIDDEN], atol=1e-5)
        np.testing.assert_allclose(picked[utt][:, HIDDEN:], last[utt], atol=1e-5)


def test_hf_bad_layer_is_a_clear_error(models, speech_data, tmp_path):
    data, _ = speech_data
    with pytest.raises(SystemExit) as e:
        run_main("--feature", "hf", "--model", models / "wavlm", "--device", "cpu", "--layers", "9",
                 data, tmp_path / "out")
    msg = str(e.value)
    assert "layer 9" in msg and "out of range" in msg and "3 hidden states" in msg
    assert not (tmp_path / "out" / "feats.scp").exists()


@pytest.mark.slow
def test_hf_cli_bad_layer_and_missing_model(models, speech_data, tmp_path):
    data, _ = speech_data
    r = run_cli("--feature", "hf", "--model", models / "hubert", "--device", "cpu", "--layers", "9",
                data, tmp_path / "out")
    assert r.returncode != 0
    assert "layer 9 out of range" in r.stderr and "Traceback" not in r.stderr, r.stderr
    with pytest.raises(SystemExit, match="needs --model"):
        run_main("--feature", "hf", data, tmp_path / "out2")
    with pytest.raises(SystemExit, match="cannot set up"):
        run_main("--feature", "hf", "--model", tmp_path / "no-such-model", "--device", "cpu", data, tmp_path / "o3")


def whisper_reference(model_dir: Path, wave: np.ndarray, positions: int) -> np.ndarray:
    """The last hidden state of a WhisperEncoder built for `positions` output frames (config and
    sliced position table), on the mel frames of `wave` zero-padded to 2 * positions frames."""
    import torch
    import transformers as tr
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    full = tr.WhisperModel.from_pretrained(model_dir).get_encoder()
    config = tr.WhisperConfig.from_pretrained(model_dir, max_source_positions=positions)
    enc = WhisperEncoder(config).eval()
    state = full.state_dict()
    state["embed_positions.weight"] = state["embed_positions.weight"][:positions]
    enc.load_state_dict(state)
    fe = tr.WhisperFeatureExtractor.from_pretrained(model_dir)
    mel = fe(wave, sampling_rate=16000, return_tensors="pt", padding="max_length", max_length=positions * 320)
    assert mel.input_features.shape[-1] == 2 * positions
    with torch.inference_mode():
        return enc(mel.input_features).last_hidden_state[0].numpy()


def test_hf_whisper_utterance_window(models, speech_data, tmp_path):
    data, waves = speech_data
    feats = dump_hf(models / "whisper", data, tmp_path / "out", "--whisper-input-seconds", "utterance")
    padded = dump_hf(models / "whisper", data, tmp_path / "padded")
    for utt, w in waves.items():
        n = math.ceil(len(w) / 320)
        assert feats[utt].shape == (n, HIDDEN), utt
        np.testing.assert_allclose(feats[utt], whisper_reference(models / "whisper", w, n), atol=2e-4, rtol=0)
        assert np.abs(feats[utt] - padded[utt]).max() > 1e-2  # the window changes the features
    info = json.loads((tmp_path / "out" / "feats_info.json").read_text())
    assert info["whisper_input_seconds"] == "utterance"
    opts = json.loads((tmp_path / "out" / "split1" / "options.json").read_text())
    assert opts["whisper_input_seconds"] == "utterance"
    # the settings stamp keeps the other window out of this dump dir
    with pytest.raises(SystemExit, match="whisper_input_seconds: 'utterance' -> 30.0"):
        run_main("--feature", "hf", "--model", models / "whisper", "--device", "cpu", data, tmp_path / "out")


def test_hf_whisper_utterance_groups_equal_lengths(models):
    """Only utterances with the same number of frames share a forward; each comes out as if alone."""
    from mer.features.hf import HFSpeechEncoder

    enc = HFSpeechEncoder(str(models / "whisper"), layers="all", device="cpu", whisper_input_seconds="utterance")
    shapes = []
    enc.model.conv1.register_forward_hook(lambda m, i, o: shapes.append(tuple(i[0].shape)))
    rng = np.random.RandomState(0)
    waves = [rng.uniform(-.3, .3, n).astype(np.float32) for n in (16000, 8000, 15990, 8000, 3200)]
    together = enc(waves)
    # 16000 and 15990 samples both give 50 frames; the two 8000-sample waves 25
    assert sorted(shapes) == [(1, 80, 20), (2, 80, 50), (2, 80, 100)]
    for w, mat in zip(waves, together):
        assert mat.shape == (math.ceil(len(w) / 320), (NUM_LAYERS + 1) * HIDDEN)
        np.testing.assert_allclose(mat, enc([w])[0], atol=1e-5, rtol=0)


def test_parse_whisper_window():
    from mer.features import parse_whisper_window

    assert parse_whisper_window("utterance") == parse_whisper_window(" Utterance ") == "utterance"
    assert parse_whisper_window(30) == parse_whisper_window("30") == parse_whisper_window("30s") == 30.0
    assert isinstance(parse_whisper_window(30), float) and parse_whisper_window("2.5") == 2.5
    for bad in (0, -1, "half", "", None, True, float("nan")):
        with pytest.raises(ValueError, match="positive number of seconds"):
            parse_whisper_window(bad)


@pytest.mark.parametrize("option, value", [("--whisper-input-seconds", "0"), ("--whisper-input-seconds", "half")])
def test_whisper_window_bad_values(speech_data, tmp_path, option, value, capsys):
    data, _ = speech_data
    with pytest.raises(SystemExit):
        run_main("--feature", "hf", "--model", "x", option, value, data, tmp_path / "out")
    assert "'utterance' or a positive number of seconds" in capsys.readouterr().err
    conf = tmp_path / "feats.yaml"
    conf.write_text("w:\n  feature: hf\n  model: x\n  whisper_input_seconds: 1 minute\n")
    with pytest.raises(SystemExit):
        run_main("--config", conf, "--name", "w", data, tmp_path / "out")
    err = capsys.readouterr().err
    assert "feats.yaml: entry 'w'" in err and "'1 minute'" in err


def test_hf_whisper_short_window(models, speech_data, tmp_path):
    data, waves = speech_data
    feats = dump_hf(models / "whisper", data, tmp_path / "out", "--whisper-input-seconds", "2")
    for utt, w in waves.items():
        assert feats[utt].shape == (math.ceil(len(w) / 320), HIDDEN)


def test_hf_whisper_all_layers(models, speech_data, tmp_path):
    data, waves = speech_data
    feats = dump_hf(models / "whisper", data, tmp_path / "out", "--layers", "all")
    for utt, w in waves.items():
        assert feats[utt].shape == (math.ceil(len(w) / 320), (NUM_LAYERS + 1) * HIDDEN)


# ----------------------------------------------------- batching: which families, and that it is exact

def dump_batch_sizes(monkeypatch, *args) -> list[int]:
    """Run dump_feats in-process; return the number of utterances in each encoder call."""
    from mer.features import hf

    sizes: list[int] = []
    for cls in (hf.HFSpeechEncoder, hf.HFTextEncoder):
        def spy(self, inputs, _call=cls.__call__):
            sizes.append(len(inputs))
            return _call(self, inputs)
        monkeypatch.setattr(cls, "__call__", spy)
    run_main(*args)
    return sizes


@pytest.fixture(scope="module")
def text_data(tmp_path_factory):
    d = DataDir()
    for utt, t in {"t1": "Hello world", "t2": "I am so happy today", "t3": "what a day it is not fine at all",
                   "t4": "sad"}.items():
        d.add(utt, "s", text=t)
    path = tmp_path_factory.mktemp("text") / "data"
    d.save(path)
    return path


@pytest.mark.parametrize("name, extra", [
    ("bert", ()), ("wav2vec2", ()), ("wavlm_ln", ("--layers", "all")), ("hubert", ()), ("wavlm", ("--layers", "all")),
    ("whisper", ()),
    ("whisper", ("--whisper-input-seconds", "utterance", "--layers", "all")),
])
def test_batched_dumps_equal_unbatched(models, speech_data, text_data, tmp_path, monkeypatch, name, extra):
    """Text encoders, speech encoders (group-norm ones too: hubert, wavlm) and Whisper run several
    utterances per call (padded, with attention masks where the model takes one) and store what each
    gives alone."""
    feature, data = ("hf-text", text_data) if name == "bert" else ("hf", speech_data[0])
    common = ("--feature", feature, "--model", models / name, "--device", "cpu", "--tolerate-failures", *extra)
    batched = dump_batch_sizes(monkeypatch, *common, "--batch-size", "8", data, tmp_path / "b8")
    single = dump_batch_sizes(monkeypatch, *common, "--batch-size", "1", data, tmp_path / "b1")
    assert max(batched) > 1 and max(single) == 1
    a, b = load_feats(tmp_path / "b8"), load_feats(tmp_path / "b1")
    assert set(a) == set(b) and len(a) >= 3
    lengths = {m.shape[0] for m in a.values()}
    assert len(lengths) >= 3  # real padding happened within the batch
    for utt in a:
        np.testing.assert_allclose(a[utt], b[utt], atol=1e-4, rtol=0, err_msg=f"{name} {utt}")


def test_encoders_are_frozen_in_eval_mode(models):
    from mer.features.hf import HFSpeechEncoder, HFTextEncoder

    speech = HFSpeechEncoder(str(models / "wav2vec2"), device="cpu")
    text = HFTextEncoder(str(models / "bert"), device="cpu")
    for enc in (speech, text):
        assert not enc.model.training
        assert all(not m.training for m in enc.model.modules())
    w = [np.random.RandomState(0).uniform(-.5, .5, 9000).astype(np.float32)]
    np.testing.assert_array_equal(speech(w)[0], speech(w)[0])  # no dropout: deterministic


def test_hf_text(models, tmp_path):
    from transformers import AutoTokenizer

    d = DataDir()
    texts = {"t1": "Hello world", "t2": "I am so happy today", "t3": "what a day it is not fine at all"}
    for utt, t in texts.items():
        d.add(utt, "s", text=t)
    d.add("t4-no-text", "s")
    d.save(tmp_path / "data")
    tok = AutoTokenizer.from_pretrained(models / "bert")
    for layers, dim in (("last", HIDDEN), ("all", (NUM_LAYERS + 1) * HIDDEN)):
        out = tmp_path / f"out-{layers}"
        rc = run_main("--feature", "hf-text", "--model", models / "bert", "--device", "cpu", "--layers", layers,
                      tmp_path / "data", out)
        assert rc == 1
        failed = read_failed(out)
        assert list(failed) == ["t4-no-text"] and "transcript" in failed["t4-no-text"]
        feats = load_feats(out)
        assert set(feats) == set(texts)
        for utt, t in texts.items():
            ids = tok(t)["input_ids"]
            assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
            assert feats[utt].shape == (len(ids), dim), utt
        assert feats["t1"].shape[0] == 4  # [CLS] hello world [SEP]
        info = json.loads((out / "feats_info.json").read_text())
        assert info["unit"] == "token" and info["num_layers_stored"] == (1 if layers == "last" else 3)


def test_hf_text_over_a_transcription_file(models, tmp_path):
    # ASR hypotheses (a transcription dump's text) instead of the data dir's reference transcripts
    d = DataDir()
    for utt in ("t1", "t2", "t3"):
        d.add(utt, "s", text="the reference words here")
    d.save(tmp_path / "data")
    hyps = tmp_path / "asr_text"
    hyps.write_text("t1 hello\nt2 \nt3 a much longer hypothesis than that\n")  # t2: an empty hypothesis
    out = tmp_path / "out"
    assert run_main("--feature", "hf-text", "--model", models / "bert", "--device", "cpu", "--text-file", hyps,
                    "--allow-empty-text", tmp_path / "data", out) == 0
    feats = load_feats(out)
    assert [feats[u].shape[0] for u in ("t1", "t2", "t3")] == [3, 2, 8]  # [CLS] .. [SEP]
    assert json.loads((out / "feats_info.json").read_text())["text_file"] == str(hyps)
    with pytest.raises(SystemExit, match="--text-file .*absent not found"):
        run_main("--feature", "hf-text", "--model", models / "bert", "--device", "cpu", "--text-file",
                 tmp_path / "absent", tmp_path / "data", tmp_path / "out2")


def test_audio_dump_of_a_text_only_data_dir_fails_at_once_naming_it(tmp_path):
    # MELD prepared from its CSVs alone has no wav.scp: an audio dump must say so before it loads
    # a model, not fail every utterance one by one.
    d = tmp_path / "data"
    d.mkdir()
    (d / "utt2spk").write_text("u1 s1\nu2 s1\n")
    (d / "spk2utt").write_text("s1 u1 u2\n")
    (d / "text").write_text("u1 hello\nu2 bye\n")
    for feature in ("fbank", "asr"):
        with pytest.raises(SystemExit, match=f"--feature {feature} reads audio, but {d} has no wav.scp"):
            dump_feats.main(["--feature", feature, "--model", "whisper-tiny.en", str(d), str(tmp_path / feature)])
        assert not (tmp_path / feature).exists()
