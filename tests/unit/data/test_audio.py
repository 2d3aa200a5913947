"""The one audio loader (`mer.data.audio`) on real files: hand-built RIFF layouts, bit depths, rates,
channels, pipes, segments, and the errors of files that cannot be read."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.helpers.audio import (chunk, chunk_ids, list_info_chunk, parse_riff, resampled_length, sine, to_int,
                            write_riff)
from mer.data.audio import AudioError, Cut, load_audio, load_utterance
from mer.data.datadir import DataDir, Segment

from tests.helpers import REPO

EMODB_WAV = Path(os.environ.get("EMODB", "/nonexistent")) / "wav"  # the real corpus, where EMODB points (.ci/run)
VENV_FFMPEG = REPO / ".venv" / "bin" / "ffmpeg"
FFMPEG = str(VENV_FFMPEG) if VENV_FFMPEG.is_file() else shutil.which("ffmpeg")


def pattern(values, reps: int = 50) -> np.ndarray:
    return np.tile(np.asarray(values), reps)


# --------------------------------------------------------------------------- bit depths and scaling

# (bits, is_float, sample values written, what the loader must return)
SCALING = [
    (8, False, [255, 0, 128, 192], [127 / 128, -1.0, 0.0, 0.5]),
    (16, False, [32767, -32768, 16384, -8192, 0], [32767 / 32768, -1.0, 0.5, -0.25, 0.0]),
    (24, False, [(1 << 23) - 1, -(1 << 23), 1 << 22, -(1 << 21), 0], [1 - 2 ** -23, -1.0, 0.5, -0.25, 0.0]),
    (32, False, [(1 << 31) - 1, -(1 << 31), 1 << 30, -(1 << 29), 0], [1.0, -1.0, 0.5, -0.25, 0.0]),
    (32, True, [0.25, -0.5, 1.0, -1.0, 0.0], [0.25, -0.5, 1.0, -1.0, 0.0]),
    (64, True, [0.25, -0.5, 1.0, -1.0, 1e-3], [0.25, -0.5, 1.0, -1.0, 1e-3]),
]
SCALING_IDS = ["pcm8", "pcm16", "pcm24", "pcm32", "float32", "float64"]


# Every format as a plain fmt chunk and as WAVE_FORMAT_EXTENSIBLE (8-bit PCM is never written so).
SCALING_CASES = [pytest.param(*case, ext, id=f"{name}-{'extensible' if ext else 'plain'}")
                 for case, name in zip(SCALING, SCALING_IDS) for ext in (False, True) if not (ext and name == "pcm8")]


@pytest.mark.parametrize("bits,is_float,written,expected,extensible", SCALING_CASES)
def test_hand_built_riff_scaling(tmp_path, bits, is_float, written, expected, extensible):
    path = write_riff(tmp_path / "x.wav", pattern(written), 16000, bits, is_float=is_float, extensible=extensible)
    w = load_audio(str(path), utt="u")
    assert w.dtype == np.float32 and w.ndim == 1 and len(w) == len(written) * 50
    np.testing.assert_allclose(w[: len(written)], expected, rtol=0, atol=1e-6)
    assert np.abs(w).max() <= 1.0


@pytest.mark.parametrize("subtype,scale", [("PCM_16", 32768), ("PCM_24", 1 << 23), ("PCM_32", 1 << 31),
                                           ("FLOAT", None)])
def test_soundfile_written_subtypes(tmp_path, subtype, scale):
    """Files written by soundfile (libsndfile's own layout) come back as the values written."""
    x = sine(8000, 16000, 300, amp=0.7)
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, x, 16000, subtype=subtype)
    w = load_audio(str(path))
    assert len(w) == 8000
    tol = 1e-6 if scale is None else 1.0 / scale + 1e-7
    np.testing.assert_allclose(w, x, atol=tol)
    # An exact quarter scale stays exact in every integer format.
    sf.write(path, np.full(100, 0.25), 16000, subtype=subtype)
    np.testing.assert_array_equal(load_audio(str(path)), np.full(100, 0.25, np.float32))


def test_flac_and_ogg(tmp_path):
    x = sine(12000, 16000, 500, amp=0.5)
    sf.write(tmp_path / "x.flac", x, 16000, subtype="PCM_16")
    np.testing.assert_allclose(load_audio(str(tmp_path / "x.flac")), x, atol=1 / 32768 + 1e-7)
    sf.write(tmp_path / "x.ogg", x, 16000, format="OGG", subtype="VORBIS")
    w = load_audio(str(tmp_path / "x.ogg"))
    assert abs(len(w) - 12000) <= 1 and np.corrcoef(w[:11000], x[:11000])[0, 1] > 0.99


# --------------------------------------------------------------------------- RIFF layouts

def test_chunks_before_data_emodb_style(tmp_path):
    """`JUNK` before `fmt `, `LIST` and an odd-sized `PAD ` (with its pad byte) before `data`,
    and a chunk after `data`: only the data chunk's samples are returned."""
    values = to_int(sine(4000, 16000, 250, amp=0.6), 16)
    path = write_riff(tmp_path / "x.wav", values, 16000, 16,
                      before_fmt=[chunk(b"JUNK", b"\x00" * 28)],
                      before_data=[list_info_chunk(INAM="test", ISFT="mer"), chunk(b"PAD ", b"\x7f" * 1021)],
                      after_data=[list_info_chunk(ICMT="trailer")])
    assert chunk_ids(path) == ["JUNK", "fmt ", "LIST", "PAD ", "data"]
    w = load_audio(str(path))
    np.testing.assert_array_equal(w, (values / 32768).astype(np.float32))


def test_streamed_header_sizes(tmp_path):
    """Sizes left at 0xFFFFFFFF (a WAV written to a pipe) read to the end of the file."""
    values = pattern([1000, -1000, 0], 100)
    path = write_riff(tmp_path / "x.wav", values, 16000, 16, data_size=0xFFFFFFFF, riff_size=0xFFFFFFFF)
    np.testing.assert_array_equal(load_audio(str(path)), (values / 32768).astype(np.float32))


def test_data_shorter_than_header_gives_the_samples_present(tmp_path):
    values = pattern([1000, -1000, 0, 16384], 100)
    data = (tmp_path / "full.wav")
    write_riff(data, values, 16000, 16)
    raw = data.read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[: 44 + 2 * 150 + 1])  # 150 samples and half of one
    w = load_audio(str(tmp_path / "cut.wav"))
    np.testing.assert_array_equal(w, (values[:150] / 32768).astype(np.float32))


# --------------------------------------------------------------------------- rates and channels

@pytest.mark.parametrize("sr", [8000, 11025, 22050, 44100, 48000])
def test_resampled_to_16k(tmp_path, sr):
    n = int(sr * 0.6) + 7
    path = write_riff(tmp_path / "x.wav", to_int(sine(n, sr, 440, 0.5), 16), sr, 16)
    w = load_audio(str(path))
    assert abs(len(w) - resampled_length(n, sr)) <= 1
    # The content is the same tone at 16 kHz (edges excluded: the filter's warm-up).
    ref = sine(len(w), 16000, 440, 0.5)
    assert np.abs(w - ref)[200:-200].max() < 2e-3


def test_stereo_downmix_is_channel_mean(tmp_path):
    left = to_int(sine(3000, 16000, 300, 0.5), 24)
    right = to_int(sine(3000, 16000, 700, 0.4, phase=1.0), 24)
    stereo = np.stack([left, right], axis=1)
    for name, kw in (("plain", {}), ("ext", {"extensible": True})):
        path = write_riff(tmp_path / f"{name}.wav", stereo, 16000, 24, **kw)
        w = load_audio(str(path))
        np.testing.assert_allclose(w, (left + right) / 2 / (1 << 23), atol=1e-6)


def test_stereo_44k_downmixed_and_resampled(tmp_path):
    sr, n = 44100, 30000
    x = np.stack([sine(n, sr, 440, 0.5), sine(n, sr, 440, 0.3)], axis=1)  # same tone: mean = 0.4 amp
    path = write_riff(tmp_path / "x.wav", to_int(x, 16), sr, 16)
    w = load_audio(str(path))
    assert abs(len(w) - resampled_length(n, sr)) <= 1
    assert np.abs(w - sine(len(w), 16000, 440, 0.4))[200:-200].max() < 2e-3


def test_multichannel_float(tmp_path):
    x = np.stack([np.full(500, 0.3), np.full(500, -0.1), np.full(500, 0.4), np.zeros(500)], axis=1)
    path = write_riff(tmp_path / "x.wav", x, 16000, 32, is_float=True, extensible=True)
    np.testing.assert_allclose(load_audio(str(path)), np.full(500, 0.15), atol=1e-7)


# --------------------------------------------------------------------------- pipes

def test_cat_pipe_equals_file(tmp_path):
    values = to_int(sine(5000, 22050, 330, 0.5), 16)
    path = write_riff(tmp_path / "x.wav", values, 22050, 16, before_data=[chunk(b"PAD ", b"\x00" * 10)])
    direct = load_audio(str(path))
    for spec in (f"cat {path} |", f"cat {path}|", f"  cat {path} |  "):
        np.testing.assert_array_equal(load_audio(spec, utt="u"), direct)


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
def test_ffmpeg_pipe_44k_stereo(tmp_path):
    sr, n = 44100, int(44100 * 0.8)
    x = np.stack([sine(n, sr, 440, 0.5), sine(n, sr, 660, 0.3)], axis=1)
    path = write_riff(tmp_path / "x.wav", to_int(x, 16), sr, 16)
    spec = f"{FFMPEG} -nostdin -v error -i {path} -ac 1 -ar 16000 -f wav - |"
    w = load_audio(spec, utt="u")
    ours = load_audio(str(path))
    assert abs(len(w) - resampled_length(n, sr)) <= 1
    n_common = min(len(w), len(ours))
    assert np.abs(w[:n_common] - ours[:n_common])[100:-100].max() < 2e-3
    # A cut of a pipe is taken after decoding, in the pipe's (16 kHz) time.
    c = load_audio(spec, Cut(0.25, 0.5), utt="u")
    np.testing.assert_array_equal(c, w[4000:8000])


# --------------------------------------------------------------------------- segments

@pytest.fixture
def one_second(tmp_path):
    values = to_int(sine(16000, 16000, 220, 0.5), 16)
    return write_riff(tmp_path / "rec.wav", values, 16000, 16), (values / 32768).astype(np.float32)


def test_segment_cut(one_second):
    path, full = one_second
    np.testing.assert_array_equal(load_audio(str(path), Cut(0.25, 0.75)), full[4000:12000])
    np.testing.assert_array_equal(load_audio(str(path), Cut(0.0, 1.0)), full)
    np.testing.assert_array_equal(load_audio(f"cat {path} |", Cut(0.25, 0.75)), full[4000:12000])


def test_segment_negative_start_clamped(one_second):
    path, full = one_second
    np.testing.assert_array_equal(load_audio(str(path), Cut(-0.03, 0.5)), full[:8000])


def test_segment_end_slightly_past_end_tolerated(one_second):
    path, full = one_second
    np.testing.assert_array_equal(load_audio(str(path), Cut(0.5, 1.04)), full[8000:])
    np.testing.assert_array_equal(load_audio(f"cat {path} |", Cut(0.5, 1.04)), full[8000:])


@pytest.mark.parametrize("cut,why", [(Cut(0.5, 1.2), "outside"), (Cut(1.0, 1.02), "outside"),
                                     (Cut(2.0, 3.0), "outside"), (Cut(0.6, 0.6), "<="), (Cut(0.7, 0.2), "<=")])
def test_segment_errors(one_second, cut, why):
    path, _ = one_second
    for spec in (str(path), f"cat {path} |"):
        with pytest.raises(AudioError) as e:
            load_audio(spec, cut, utt="seg-1")
        msg = str(e.value)
        assert "seg-1" in msg and spec.strip() in msg and why in msg


def test_segment_of_resampled_recording(tmp_path):
    sr = 8000
    values = to_int(sine(8000, sr, 220, 0.5), 16)
    path = write_riff(tmp_path / "rec.wav", values, sr, 16)
    w = load_audio(str(path), Cut(0.25, 0.75))
    assert abs(len(w) - 8000) <= 1
    assert np.abs(w - sine(len(w), 16000, 220, 0.5, phase=2 * np.pi * 220 * 0.25))[200:-200].max() < 2e-3


def test_load_utterance_with_and_without_segments(tmp_path, one_second):
    path, full = one_second
    d = DataDir()
    d.add("a", "s", wav=str(path))
    d.add("b", "s", wav=f"cat {path} |")
    d.save(tmp_path / "plain")
    plain = DataDir.load(tmp_path / "plain")
    np.testing.assert_array_equal(load_utterance(plain, "a"), full)
    np.testing.assert_array_equal(load_utterance(plain, "b"), full)

    d = DataDir()
    d.add("rec-s1", "s", wav=str(path), segment=Segment("rec", 0.1, 0.3))
    d.add("rec-s2", "s", segment=Segment("rec", 0.5, 0.9))
    d.add("rec-s3", "s", segment=Segment("rec", 0.5, 1.5))
    d.save(tmp_path / "seg")
    seg = DataDir.load(tmp_path / "seg")
    np.testing.assert_array_equal(load_utterance(seg, "rec-s1"), full[1600:4800])
    np.testing.assert_array_equal(load_utterance(seg, "rec-s2"), full[8000:14400])
    with pytest.raises(AudioError, match="rec-s3"):
        load_utterance(seg, "rec-s3")
    with pytest.raises(AudioError, match="utterance nope"):
        load_utterance(seg, "nope")


# --------------------------------------------------------------------------- errors

def _broken(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """name -> (wav.scp entry, a word the reason must hold)."""
    good = tmp_path / "good.wav"
    write_riff(good, pattern([1000, -1000], 200), 16000, 16)
    raw = good.read_bytes()
    (tmp_path / "trunc.wav").write_bytes(raw[:22])
    (tmp_path / "zero.wav").write_bytes(b"")
    (tmp_path / "notaudio.wav").write_text("this is a transcript, not audio\n" * 20)
    write_riff(tmp_path / "empty.wav", np.zeros(0, dtype=np.int16), 16000, 16)
    write_riff(tmp_path / "nan.wav", pattern([0.1, np.nan], 10), 16000, 32, is_float=True)
    return {
        "missing": (str(tmp_path / "missing.wav"), "not found"),
        "trunc": (str(tmp_path / "trunc.wav"), "not a readable audio file"),
        "zero": (str(tmp_path / "zero.wav"), "not a readable audio file"),
        "notaudio": (str(tmp_path / "notaudio.wav"), "not a readable audio file"),
        "empty": (str(tmp_path / "empty.wav"), "no samples"),
        "nan": (str(tmp_path / "nan.wav"), "NaN"),
        "pipe-fails": (f"cat {tmp_path / 'nowhere.wav'} |", "exited with code 1"),
        "pipe-false": ("false |", "exited with code"),
        "pipe-silent": ("true |", "no output"),
        "pipe-text": (f"cat {tmp_path / 'notaudio.wav'} |", "not a readable audio file"),
        "pipe-trunc": (f"head -c 30 {good} |", "not a readable audio file"),
    }


def test_errors_name_utterance_path_and_reason(tmp_path):
    for name, (spec, why) in _broken(tmp_path).items():
        with pytest.raises(AudioError) as e:
            load_audio(spec, utt=f"utt-{name}")
        msg = str(e.value)
        assert f"utt-{name}" in msg, msg
        assert spec.strip() in msg, msg
        assert why in msg, msg
        assert e.value.utt == f"utt-{name}" and e.value.reason and why in e.value.reason
    # The failing command's own complaint is passed on.
    with pytest.raises(AudioError, match="No such file or directory"):
        load_audio(f"cat {tmp_path / 'nowhere.wav'} |", utt="x")


def test_segment_of_a_broken_file_names_it(tmp_path):
    broken = _broken(tmp_path)
    for name in ("missing", "trunc", "notaudio"):
        spec = broken[name][0]
        with pytest.raises(AudioError) as e:
            load_audio(spec, Cut(0.0, 0.1), utt="u9")
        assert "u9" in str(e.value) and spec in str(e.value)


def test_audio_error_is_a_runtime_error():
    e = AudioError("u", "/x.wav", "why")
    assert isinstance(e, RuntimeError) and str(e) == "utterance u: cannot read audio from '/x.wav': why"


# --------------------------------------------------------------------------- real EmoDB

def _emodb_pad_files() -> list[Path]:
    if not EMODB_WAV.is_dir():
        return []
    return [p for p in sorted(EMODB_WAV.glob("*.wav")) if "PAD " in chunk_ids(p, limit=4096)]


def test_emodb_files_with_pad_chunk():
    if not EMODB_WAV.is_dir():
        pytest.skip(f"Berlin EmoDB is not at {EMODB_WAV} (set EMODB to a copy)")
    files = _emodb_pad_files()
    if not files:
        pytest.skip(f"no EmoDB file in {EMODB_WAV} has a PAD chunk")
    assert len(files) == 4, [f.name for f in files]
    for path in files:
        fmt, data = parse_riff(path)
        assert fmt["bits"] == 16 and fmt["channels"] == 1
        expected = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2") / 32768
        w = load_audio(str(path), utt=path.stem)
        if fmt["sr"] == 16000:
            np.testing.assert_array_equal(w, expected.astype(np.float32))
        else:
            assert abs(len(w) - resampled_length(len(expected), fmt["sr"])) <= 1
        assert len(w) > 16000 * 0.5 and np.abs(w).max() <= 1.0
