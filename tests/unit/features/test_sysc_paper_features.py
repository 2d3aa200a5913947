"""System C's acoustic sets as the paper names them: GeMAPS v01b functionals, the cited hand-crafted
eight (mer.features.sahu8) and librosa's 39 MFCCs (mer.features.librosa_mfcc), on signals whose
answers are known."""
from __future__ import annotations

import numpy as np
import pytest

from mer.features import build_extractor, feature_types
from mer.features import sahu8
from mer.features.librosa_mfcc import HOP, N_MELS

from tests.helpers import REPO

SR = 16000


def tone(f0: float, amp: float = 0.5, seconds: float = 1.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * f0 * np.arange(int(SR * seconds)) / SR)


def named(x: np.ndarray) -> dict[str, float]:
    return dict(zip(sahu8.SAHU8_NAMES, sahu8.sahu8_features(x)))


# --- the hand-crafted eight -------------------------------------------------------------------

def test_signal_moments_of_a_sine():
    got = named(tone(250.0, amp=0.5))  # 250 whole periods of P = 64 samples
    # mean |sin| over P samples per period: (2 / P) cot(pi / P), 2 / pi as P grows
    assert got["signal_abs_mean"] == pytest.approx(0.5 * 2 / 64 / np.tan(np.pi / 64), rel=1e-9)
    assert got["signal_abs_mean"] == pytest.approx(0.5 * 2 / np.pi, rel=1e-3)
    assert got["signal_std"] == pytest.approx(0.5 / np.sqrt(2), rel=1e-6)


@pytest.mark.parametrize("amp", [0.5, 0.05])
def test_rms_of_a_constant_amplitude_sine(amp):
    x = tone(250.0, amp=amp, seconds=3.0)  # a 2048-sample frame holds 32 whole periods
    rms = sahu8.frame_rms(x)
    assert len(rms) == 1 + len(x) // 512
    assert rms[2:-2] == pytest.approx(np.full(len(rms) - 4, amp / np.sqrt(2)), rel=1e-9)
    got = named(x)
    # only the centred frames at either end reach into the zero padding
    assert got["rms_mean"] == pytest.approx(amp / np.sqrt(2), rel=0.03)
    assert got["rms_std"] < 0.1 * got["rms_mean"] and got["silence_ratio"] == 0.0


def test_silence_ratio_of_a_signal_with_a_known_silent_share():
    n_tone = 3 * SR
    x = np.concatenate([tone(200.0, seconds=3.0), np.zeros(3 * SR)])
    starts = 512 * np.arange(1 + len(x) // 512) - 1024   # first sample of each centred frame
    all_silent = np.mean(starts >= n_tone)                # frames that see no tone at all
    got = named(x)
    assert got["silence_ratio"] == pytest.approx(all_silent)
    assert got["silence_ratio"] == pytest.approx(0.5, abs=0.02)


def test_harmonic_ratio_separates_tones_clicks_and_noise():
    clicks = np.zeros(2 * SR)
    clicks[::4000] = 0.9
    noise = 0.1 * np.random.default_rng(0).standard_normal(2 * SR)
    assert sahu8.harmonic_ratio(tone(220.0, seconds=2.0)) > 0.95
    assert sahu8.harmonic_ratio(clicks) < 0.05
    assert 0.3 < sahu8.harmonic_ratio(noise) < 0.7
    assert sahu8.harmonic_ratio(np.zeros(SR)) == 0.0


def test_centre_clipping():
    x = np.array([-1.0, -0.3, -0.2, 0.0, 0.1, 0.2, 0.5])
    assert sahu8.centre_clip(x, 0.2) == pytest.approx([-0.8, -0.1, 0.0, 0.0, 0.0, 0.0, 0.3])


@pytest.mark.parametrize("f0", [60.0, 90.0, 150.0, 220.0, 333.0, 480.0])
def test_pitch_of_a_pure_tone(f0):
    got = named(tone(f0))
    assert got["pitch_max_hz"] == pytest.approx(f0, rel=0.01)
    assert got["pitch_std_hz"] < 1.0


def test_pitch_of_a_harmonic_tone_and_of_a_louder_copy():
    t = np.arange(SR) / SR
    x = 0.1 * sum(np.sin(2 * np.pi * 120.0 * k * t) / k for k in range(1, 6))
    track = sahu8.pitch_track(x)
    assert np.all(track > 0) and track.max() == pytest.approx(120.0, rel=0.01)
    assert sahu8.pitch_track(10 * x) == pytest.approx(track)   # the clipping level scales with the signal


def test_pitch_is_zero_without_voicing():
    noise = 0.1 * np.random.default_rng(1).standard_normal(SR)
    for x in (noise, np.zeros(SR)):
        got = named(x)
        assert got["pitch_max_hz"] == 0.0 and got["pitch_std_hz"] == 0.0
    # a tone then silence: the silent frames are unvoiced, not a pitch
    track = sahu8.pitch_track(np.concatenate([tone(200.0), np.zeros(SR)]))
    assert np.all(track[-50:] == 0) and track[:50] == pytest.approx(np.full(50, 200.0), rel=0.01)


def test_sahu8_extractor_and_short_audio():
    ex = build_extractor("sahu8")
    (mat,) = ex([tone(200.0).astype(np.float32)])
    assert mat.shape == (1, 8) == (1, ex.info()["dim"]) and mat.dtype == np.float32
    assert ex.info()["feature_names"] == list(sahu8.SAHU8_NAMES)
    with pytest.raises(ValueError, match="shorter than one pitch frame"):
        ex([np.zeros(500, dtype=np.float32)])


# --- GeMAPS v01b ------------------------------------------------------------------------------

def test_gemaps_functionals():
    assert "gemaps" in feature_types()
    ex = build_extractor("gemaps")
    (mat,) = ex([tone(200.0).astype(np.float32)])
    info = ex.info()
    assert mat.shape == (1, 62) and info["dim"] == 62 and info["feature_set"] == "GeMAPSv01b"
    assert len(set(info["feature_names"])) == 62
    # F0 mean in semitones above 27.5 Hz, as openSMILE measures it
    f0 = mat[0, info["feature_names"].index("F0semitoneFrom27.5Hz_sma3nz_amean")]
    assert f0 == pytest.approx(12 * np.log2(200 / 27.5), abs=0.5)
    assert not set(info["feature_names"]) >= set(build_extractor("egemaps").info()["feature_names"])


# --- librosa's 39 MFCCs -----------------------------------------------------------------------

def speechlike(seconds: float = 2.3) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    x = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x = x + 0.05 * np.random.default_rng(0).standard_normal(len(t))
    x[:4000] = 0.0  # a silent start: the 80 dB floor comes into play
    return x.astype(np.float32)


def test_librosa_mfcc_shape_and_known_values():
    ex = build_extractor("librosa-mfcc39")
    x = speechlike()
    (mat,) = ex([x])
    assert mat.shape == (1 + len(x) // HOP, 39) == (mat.shape[0], ex.info()["dim"])
    # silence: every mel band at the amin floor, 10 log10(1e-10) = -100 dB; an orthonormal DCT-II
    # of a constant puts it all in c0 = -100 sqrt(n_mels)
    (zero,) = ex([np.zeros(SR, dtype=np.float32)])
    assert zero[:, 0] == pytest.approx(np.full(len(zero), -100 * np.sqrt(N_MELS)), rel=1e-6)
    assert np.abs(zero[:, 1:]).max() < 1e-6
    # 10 x the amplitude: +20 dB in every band, so c0 rises by 20 sqrt(n_mels) and the rest stay
    noise = (0.01 * np.random.default_rng(2).standard_normal(SR)).astype(np.float32)
    (quiet,), (loud,) = ex([noise]), ex([10 * noise])
    assert loud[:, 0] - quiet[:, 0] == pytest.approx(np.full(len(quiet), 20 * np.sqrt(N_MELS)), abs=1e-3)
    assert np.abs(loud[:, 1:] - quiet[:, 1:]).max() < 1e-3


@pytest.mark.slow
def test_librosa_mfcc_matches_librosa():
    librosa = pytest.importorskip("librosa")
    x = speechlike()
    (ours,) = build_extractor("librosa-mfcc39")([x])
    ref = librosa.feature.mfcc(y=x, sr=SR, n_mfcc=39).T
    assert ours.shape == ref.shape
    print(f"librosa {librosa.__version__}: max |ours - librosa| = {np.abs(ours - ref).max():.2e} per frame, "
          f"{np.abs(ours.mean(axis=0) - ref.mean(axis=0)).max():.2e} for the utterance mean "
          f"(|values| up to {np.abs(ref).max():.0f})")
    # librosa works in float32, we in float64: about 4e-5 on values up to ~500 on this signal
    assert np.abs(ours - ref).max() < 1e-3
    assert np.abs(ours.mean(axis=0) - ref.mean(axis=0)).max() < 1e-4   # the paper's utterance means


def test_iemocap_lstm_models_read_the_papers_three_sets():
    import yaml

    from mer.train.config import load_config

    recipe = REPO / "egs/iemocap/hierarchical"
    dumps = yaml.safe_load((recipe / "conf/feats.yaml").read_text())
    for model in ("gate", "emotion", "flat"):
        conf = load_config(recipe / f"conf/tuning/train_lstm_{model}.yaml")
        kinds = {dumps[dump]["feature"] for dump in conf["inputs"].values()}
        assert kinds == {"librosa-mfcc39", "sahu8", "gemaps"}, model
        assert conf["model"]["frames"] == "mean"  # the paper's utterance-mean MFCCs
