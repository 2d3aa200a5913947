"""Segments for emotion over time (mer.segments): fixed windows, the energy VAD, flat memory."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from mer.data.audio import AudioError
from mer.segments import SegmentOptions, fixed_segments, read_segment, segments, speech_runs

SR = 16000


def bursts(path, pattern, sr=SR, seed=0):
    """A file of tone bursts (amplitude 0.3) and near-silence (1e-4 noise): [(seconds, on?)]."""
    rng = np.random.default_rng(seed)
    parts = []
    for seconds, on in pattern:
        n = int(seconds * sr)
        x = 1e-4 * rng.standard_normal(n)
        if on:
            x += 0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / sr)
        parts.append(x)
    sf.write(path, np.concatenate(parts).astype("float32"), sr)
    return path


def test_fixed_windows_cover_the_recording_and_keep_a_long_enough_tail():
    assert fixed_segments(5.0, 2.0, 2.0) == [(0.0, 2.0), (2.0, 4.0), (4.0, 5.0)]
    assert fixed_segments(4.5, 2.0, 2.0) == [(0.0, 2.0), (2.0, 4.0)]  # a 0.5 s tail is too short
    assert fixed_segments(0.4, 2.0, 1.0) == [(0.0, 0.4)]  # a short recording is one segment
    assert fixed_segments(3.0, 2.0, 1.0) == [(0.0, 2.0), (1.0, 3.0)]


def test_speech_runs_join_short_pauses_drop_short_blips_and_split_long_turns():
    frame = 0.03
    levels = np.full(1000, -90.0)  # 30 s of silence
    levels[100:200] = -20    # 3.0-6.0 s
    levels[205:300] = -20    # a 0.15 s pause, then on to 9.0 s: joined
    levels[500:503] = -20    # a 0.09 s blip: dropped
    levels[600:1000] = -20   # 18-30 s: longer than max_segment 10: split in two equal parts
    runs = speech_runs(levels, frame, SegmentOptions(mode="vad"))
    assert runs == [(3.0, 9.0), (18.0, 24.0), (24.0, 30.0)]
    strict = speech_runs(levels, frame, SegmentOptions(mode="vad", min_silence=0.1))
    assert strict[:2] == [(3.0, 6.0), (6.15, 9.0)]


def test_vad_finds_the_bursts_of_a_real_file(tmp_path):
    path = bursts(tmp_path / "b.wav", [(1.0, False), (2.0, True), (1.5, False), (1.0, True), (0.5, False)])
    got = segments(str(path), SegmentOptions(mode="vad"))
    assert len(got) == 2
    for (a, b), (ea, eb) in zip(got, [(1.0, 3.0), (4.5, 5.5)]):
        assert abs(a - ea) <= 0.03 and abs(b - eb) <= 0.03
    wave = read_segment(str(path), *got[1])
    assert abs(len(wave) / SR - (got[1][1] - got[1][0])) < 1e-3 and np.abs(wave).max() > 0.2


def test_bad_options_and_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match="--segment must be one of"):
        segments("x.wav", SegmentOptions(mode="energy"))
    with pytest.raises(ValueError, match="hop must be > 0"):
        segments("x.wav", SegmentOptions(mode="fixed", hop=0))
    with pytest.raises(AudioError, match="not wav.scp commands"):
        segments("sox x.wav -t wav - |", SegmentOptions())
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(AudioError, match="bad.wav"):
        segments(str(tmp_path / "bad.wav"), SegmentOptions())


@pytest.mark.slow
def test_a_30_minute_recording_is_segmented_with_flat_memory(tmp_path):
    """The VAD's pass and the segment reads keep a few seconds of audio in memory, not the recording
    (30 min at 16 kHz: 115 MB as float32)."""
    path = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:
        for minute in range(30):  # a minute at a time: speech-like bursts every 4 s
            t = np.arange(60 * SR) / SR
            on = (t % 4.0) < 2.5
            x = 1e-4 * rng.standard_normal(len(t)) + on * 0.3 * np.sin(2 * np.pi * 200 * t)
            f.write(x.astype("float32"))
    tracemalloc.start()
    got = segments(str(path), SegmentOptions(mode="vad"))
    last = read_segment(str(path), *got[-1])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(got) == 30 * 15 and got[-1][1] == pytest.approx(1798.5, abs=0.05)
    assert len(last) == pytest.approx(2.5 * SR, abs=SR * 0.05)
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"
