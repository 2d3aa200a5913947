"""The synthetic corpus of egs/mini: layout, determinism, and that fusion is needed.

The last tests measure the property the demo recipe relies on with cheap features (prosodic
statistics from an autocorrelation pitch tracker, bag of words) and a logistic regression trained
on the train speakers and scored on the test speakers: each modality alone is clearly above chance
and clearly below perfect, and their concatenation beats both.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score
from sklearn.preprocessing import StandardScaler

from mer.bin import make_synthetic_corpus
from mer.data.corpora import synthetic
from mer.data.corpora.synthetic import EMOTIONS, generate
from mer.data.datadir import DataDir
from mer.data.dialogues import dialogue_split_violations, dialogues

SMALL = dict(num_speakers=5, utts_per_speaker=8)


def _files(root: Path) -> dict[str, bytes]:
    """Every file under root by relative path, with root itself masked out of the contents."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = p.read_bytes().replace(str(root).encode(), b"<ROOT>")
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The default corpus, generated once for the module."""
    root = tmp_path_factory.mktemp("synthetic")
    return root, generate(root)


# ------------------------------------------------------------------------------------- layout
@pytest.mark.slow
def test_layout_and_labels(corpus):
    root, dirs = corpus
    assert set(dirs) == {"all", "train", "valid", "test"}
    for name in dirs:
        for f in ("wav.scp", "text", "utt2spk", "spk2utt", "utt2emo", "utt2gender", "utt2split",
                  "utt2dur", "labels"):
            assert (root / name / f).is_file(), f"{name}/{f}"
        assert (root / name / "labels").read_text().split() == list(EMOTIONS)
        loaded = DataDir.load(root / name)
        assert loaded.utts == dirs[name].utts
        assert loaded.text == dirs[name].text and loaded.utt2emo == dirs[name].utt2emo
    all_ = dirs["all"]
    assert len(all_) == 10 * 40
    assert set(all_.utt2emo.values()) == set(EMOTIONS)
    for utt, spk in all_.utt2spk.items():
        assert re.fullmatch(rf"{re.escape(spk)}-\d{{4}}", utt), utt
        wav = Path(all_.wav_scp[utt])
        assert wav.is_absolute() and wav == root.resolve() / "wav" / spk / f"{utt}.wav"
        assert all_.text[utt].strip() and all_.extra["utt2gender"][utt] in ("f", "m")
    # the split files are the subsets named by utt2split
    for split in ("train", "valid", "test"):
        assert set(dirs[split].utts) == {u for u, s in all_.extra["utt2split"].items() if s == split}


def test_splits_are_speaker_disjoint_and_balanced(corpus):
    _, dirs = corpus
    spk = {s: set(dirs[s].speakers) for s in ("train", "valid", "test")}
    assert not spk["train"] & spk["valid"] and not spk["train"] & spk["test"] \
        and not spk["valid"] & spk["test"]
    assert spk["train"] | spk["valid"] | spk["test"] == set(dirs["all"].speakers)
    assert len(dirs["test"]) >= 60 and len(dirs["valid"]) >= 60
    for split in ("train", "valid", "test"):
        d = dirs[split]
        counts = Counter(d.utt2emo.values())
        assert set(counts) == set(EMOTIONS) and len(set(counts.values())) == 1, (split, counts)
        genders = {d.extra["utt2gender"][u] for u in d.utts}
        assert genders == {"f", "m"}, split
        for s in d.speakers:   # every speaker has every emotion equally often
            per = Counter(d.utt2emo[u] for u in d.utts if d.utt2spk[u] == s)
            assert len(set(per.values())) == 1 and len(per) == 4


def test_audio_format_and_durations(corpus):
    _, dirs = corpus
    all_ = dirs["all"]
    for utt in all_.utts:
        info = sf.info(all_.wav_scp[utt])
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
        assert 1.0 <= info.duration <= 3.0
        assert abs(float(all_.extra["utt2dur"][utt]) - info.duration) < 1e-3
    x, _ = sf.read(all_.wav_scp[all_.utts[0]])
    assert 0.01 < np.max(np.abs(x)) < 0.9
    peaks = [np.max(np.abs(sf.read(all_.wav_scp[u])[0])) for u in all_.utts[::7]]
    assert max(peaks) < 0.9


# ---------------------------------------------------------------------------------- dialogues
def test_dialogues_stay_in_their_split_with_turns_in_order(corpus):
    root, dirs = corpus
    all_ = DataDir.load(root / "all")
    order = dialogues(all_)
    assert sorted(u for utts in order.values() for u in utts) == sorted(all_.utts)   # every utt, once
    assert dialogue_split_violations({s: DataDir.load(root / s) for s in synthetic.SPLITS}) == []
    for dia, utts in order.items():
        split = dia.split("-")[0]
        assert {all_.extra["utt2split"][u] for u in utts} == {split}
        assert [all_.extra["utt2turn"][u] for u in utts] == [str(t) for t in range(len(utts))]
        assert 4 <= len(utts) <= 10, dia
        assert len({all_.utt2spk[u] for u in utts}) == 2, dia       # every split has pairs here
    for split in synthetic.SPLITS:                                   # the split dirs carry them
        assert dirs[split].extra["utt2dialog"] == {u: all_.extra["utt2dialog"][u] for u in dirs[split].utts}


def test_previous_turn_predicts_the_emotion(corpus):
    """Context is informative: the previous turn's label predicts the current one far above chance."""
    root, _ = corpus
    all_ = DataDir.load(root / "all")
    pairs = [(all_.utt2emo[a], all_.utt2emo[b]) for utts in dialogues(all_).values()
             for a, b in zip(utts, utts[1:])]
    kept = sum(a == b for a, b in pairs) / len(pairs)
    freq = Counter(all_.utt2emo.values())
    chance = sum((n / len(all_)) ** 2 for n in freq.values())       # 0.25: balanced labels
    assert len(pairs) > 300 and chance == pytest.approx(0.25)
    assert kept > 0.6, kept


def test_make_dialogues_with_odd_and_single_speaker_splits():
    d = DataDir()
    for spk, split in (("a", "train"), ("b", "train"), ("c", "train"), ("z", "test")):
        for i in range(10):
            d.add(f"{spk}-{i}", spk, emo=EMOTIONS[i % 4], split=split)
    utt2dialog, utt2turn = synthetic.make_dialogues(d, seed=5)
    assert (utt2dialog, utt2turn) == synthetic.make_dialogues(d, seed=5)
    assert utt2dialog.keys() == utt2turn.keys() == d.utt2spk.keys()
    d.extra["utt2dialog"], d.extra["utt2turn"] = utt2dialog, utt2turn
    for dia, utts in dialogues(d).items():
        speakers = {d.utt2spk[u] for u in utts}
        if dia.startswith("test-"):
            assert speakers == {"z"}
        else:                                   # the odd one out joins the pair
            assert speakers <= {"a", "b", "c"} and len(speakers) >= 2, dia
        assert 4 <= len(utts) <= 10


# -------------------------------------------------------------------------------- determinism
def test_deterministic_given_the_seed(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, seed=3, **SMALL)
    generate(b, seed=3, **SMALL)
    generate(c, seed=4, **SMALL)
    fa, fb, fc = _files(a), _files(b), _files(c)
    assert fa.keys() == fb.keys() and fa == fb
    wavs = [k for k in fa if k.endswith(".wav")]
    assert len(wavs) == 40
    assert fa.keys() == fc.keys()
    assert all(fa[k] != fc[k] for k in wavs)
    assert fa["all/text"] != fc["all/text"]
    # Dialogues were added later: every file but the new ones (and the wavs, whose float arithmetic
    # may vary across machines) must hash as it did before, so published demo results stay valid.
    h = hashlib.sha256()
    for name, data in sorted(fa.items()):
        if not name.endswith((".wav", "/utt2dialog", "/utt2turn")):
            h.update(name.encode() + b"\0" + data + b"\0")
    assert h.hexdigest() == "e0e9ffb26716f5b16cb31ccf4b7d0ebe397a1cf6aeeea6e5604bad341fa635d3"


def test_rerun_skips_written_wavs_unless_forced_or_changed(tmp_path):
    generate(tmp_path, seed=1, **SMALL)
    wav = next((tmp_path / "wav").rglob("*.wav"))
    before = _files(tmp_path)
    mtime = wav.stat().st_mtime_ns
    generate(tmp_path, seed=1, **SMALL)
    assert wav.stat().st_mtime_ns == mtime            # kept
    assert _files(tmp_path) == before
    generate(tmp_path, seed=1, force=True, **SMALL)
    assert wav.stat().st_mtime_ns != mtime            # rewritten, to the same bytes
    assert _files(tmp_path) == before
    generate(tmp_path, seed=2, **SMALL)               # other settings: every wav is remade
    after = _files(tmp_path)
    assert after[str(wav.relative_to(tmp_path))] != before[str(wav.relative_to(tmp_path))]


def test_noise_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, audio_noise=1.5, **SMALL)
    with pytest.raises(ValueError):
        generate(tmp_path, num_speakers=2, utts_per_speaker=4)


def test_cli_prints_a_summary(tmp_path, capsys):
    assert make_synthetic_corpus.main([str(tmp_path / "c"), "--num-speakers", "5",
                                       "--utts-per-speaker", "8", "--seed", "2",
                                       "--audio-noise", "0.1", "--text-noise", "0.2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^train\s+3\s+24\s+6\s+6\s+6\s+6$", out, re.M), out
    assert re.search(r"^test\s+1\s+8\s+2\s+2\s+2\s+2$", out, re.M), out
    assert (tmp_path / "c" / "test" / "wav.scp").is_file()
    with pytest.raises(SystemExit):
        make_synthetic_corpus.main([str(tmp_path / "d"), "--audio-noise", "2"])


def test_sentences_are_english_and_varied():
    rng = np.random.default_rng(0)
    for emo in EMOTIONS:
        sents = {synthetic.make_sentence(rng, emo) for _ in range(200)}
        assert len(sents) > 60, emo
        for s in sents:
            assert "{" not in s and "  " not in s and s[0].isupper() and s[-1] in ".!?", s


# ----------------------------------------------------------------- the property that matters
def prosody(path: str) -> np.ndarray:
    """Ten cheap per-utterance statistics: F0 level and spread (autocorrelation pitch tracker),
    loudness, voicing, periodicity (breathiness), spectral tilt and an onset rate (tempo)."""
    x, sr = sf.read(path, dtype="float64")
    flen, hop = int(0.04 * sr), int(0.01 * sr)
    n = 1 + (len(x) - flen) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, flen)[::hop][:n] * np.hanning(flen)
    energy = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)
    active = energy > energy.max() - 25
    spec = np.fft.rfft(frames, 2 * flen)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:, :flen]
    ac = ac / (ac[:, :1] + 1e-12)
    lo, hi = int(sr / 450), int(sr / 60)
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    peak = ac[np.arange(n), lag]
    voiced = active & (peak > 0.45)
    f0_st = 12 * np.log2(sr / lag[voiced] / 100.0) if voiced.any() else np.zeros(1)
    freqs = np.fft.rfftfreq(2 * flen, 1 / sr)
    power = np.abs(spec[active]) ** 2
    tilt = 10 * np.log10(power[:, (freqs > 1000) & (freqs < 4000)].sum(1)
                         / (power[:, freqs <= 1000].sum(1) + 1e-12) + 1e-12)
    smooth = np.convolve(energy, np.ones(5) / 5, mode="same")
    thr = np.median(smooth[active])
    onsets = np.sum((smooth[1:] > thr) & (smooth[:-1] <= thr))
    return np.array([
        np.median(f0_st), np.std(f0_st), np.percentile(f0_st, 90) - np.percentile(f0_st, 10),
        np.percentile(energy, 95), np.mean(energy[active]), np.std(energy[active]),
        voiced.mean() / max(active.mean(), 1e-3), np.mean(peak[voiced]) if voiced.any() else 0.0,
        np.mean(tilt), onsets / (len(x) / sr),
    ])


@pytest.fixture(scope="module")
def features(corpus):
    _, dirs = corpus
    train, test = dirs["train"], dirs["test"]
    audio = {n: np.stack([prosody(d.wav_scp[u]) for u in d.utts]) for n, d in (("train", train), ("test", test))}
    scaler = StandardScaler().fit(audio["train"])
    audio = {n: scaler.transform(a) for n, a in audio.items()}
    bow = CountVectorizer(binary=True).fit([train.text[u] for u in train.utts])
    text = {n: bow.transform([d.text[u] for u in d.utts]).toarray().astype(float)
            for n, d in (("train", train), ("test", test))}
    labels = {n: np.array([d.utt2emo[u] for u in d.utts]) for n, d in (("train", train), ("test", test))}
    return audio, text, labels


def _fit_score(feats: dict, labels: dict, keep=None) -> tuple[float, np.ndarray]:
    tr = np.ones(len(labels["train"]), bool) if keep is None else np.isin(labels["train"], keep)
    te = np.ones(len(labels["test"]), bool) if keep is None else np.isin(labels["test"], keep)
    model = LogisticRegression(C=0.1, max_iter=3000).fit(feats["train"][tr], labels["train"][tr])
    return recall_score(labels["test"][te], model.predict(feats["test"][te]), average="macro")


@pytest.mark.slow
def test_fusion_beats_each_modality(features):
    audio, text, labels = features
    both = {n: np.hstack([audio[n], text[n]]) for n in audio}
    ua = {name: _fit_score(f, labels) for name, f in (("audio", audio), ("text", text), ("audio+text", both))}
    print("UA on the test speakers (cheap features, logistic regression): "
          + ", ".join(f"{k} {v:.3f}" for k, v in ua.items()))
    assert 0.4 < ua["audio"] < 0.9
    assert 0.4 < ua["text"] < 0.9
    assert ua["audio+text"] > max(ua["audio"], ua["text"]) + 0.03


def test_each_modality_confuses_a_different_pair(features):
    """Audio tells ang from hap worse than text does; text tells neu from sad worse than audio."""
    audio, text, labels = features
    ang_hap = {n: _fit_score(f, labels, keep=["ang", "hap"]) for n, f in (("audio", audio), ("text", text))}
    neu_sad = {n: _fit_score(f, labels, keep=["neu", "sad"]) for n, f in (("audio", audio), ("text", text))}
    print(f"ang/hap UA: audio {ang_hap['audio']:.3f} text {ang_hap['text']:.3f}; "
          f"neu/sad UA: audio {neu_sad['audio']:.3f} text {neu_sad['text']:.3f}")
    assert ang_hap["audio"] < ang_hap["text"]
    assert neu_sad["text"] < neu_sad["audio"]
