"""Transcription (`python -m mer.bin.transcribe`, `mer.asr`) and WER scoring.

The decoding tests run a tiny random Whisper (WhisperConfig with tiny dims, written with
save_pretrained beside the real tokenizer and feature extractor of the prepared whisper-tiny.en,
so the real from_pretrained/generate path runs) on synthetic wavs. The real check decodes an
English recording with the offline whisper-tiny.en; it runs when $MER_ASR_DATA names a Kaldi data
dir of it (wav.scp, text, utt2spk; wav.scp paths relative to the repository root, as Kaldi
reads them from the working directory), and is skipped otherwise.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mer.asr import normalize_text, score_wer, transcribe, transcribe_data_dir
from mer.asr.wer import write_alignments
from mer.bin import dump_feats
from mer.data.datadir import DataDir
from mer.data.kaldi_io import read_kv
from mer.pretrained import is_complete, models_dir

from tests.helpers import REPO

REAL_WHISPER = models_dir() / "whisper-tiny.en"
GOOD = {"utt-a": (220, 0.5), "utt-b": (440, 1.0), "utt-c": (880, 1.5), "utt-d": (330, 0.8), "utt-e": (660, 1.2)}


def cli_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MER_CMD"}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


def run_cli(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mer.bin.transcribe", *map(str, args)], cwd=REPO,
                          env=cli_env(), capture_output=True, text=True, timeout=timeout)


def read_failed(out: Path) -> dict[str, str]:
    lines = (out / "failed").read_text(encoding="utf-8").splitlines()
    assert all("\t" in ln for ln in lines), lines
    return dict(ln.split("\t", 1) for ln in lines)


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory) -> Path:
    """A random 1-layer, 16-dim Whisper with the real tokenizer, feature extractor and decoding
    settings; init_std=1 makes its (nonsense) hypotheses differ from one input to the next."""
    if not is_complete(REAL_WHISPER):
        pytest.skip(f"whisper-tiny.en is not prepared at {REAL_WHISPER} (run tools/prepare_models.sh)")
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration, WhisperProcessor

    out = tmp_path_factory.mktemp("models") / "tiny-whisper"
    config = WhisperConfig.from_pretrained(REAL_WHISPER)
    config.update(dict(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                       decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, init_std=1.0))
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig.from_pretrained(REAL_WHISPER)
    model.generation_config.max_length = 12  # short nonsense hypotheses: fast tests
    model.save_pretrained(out)
    WhisperProcessor.from_pretrained(REAL_WHISPER).save_pretrained(out)
    return out


def tone(freq: float, seconds: float, seed: int) -> np.ndarray:
    n = int(seconds * 16000)
    noise = np.random.default_rng(seed).standard_normal(n) * 0.05
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(n) / 16000) + noise).astype(np.float32)


@pytest.fixture(scope="module")
def wavs(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """Five good 16-bit wavs and a broken one; the waveforms as the loader reads them back."""
    root = tmp_path_factory.mktemp("wavs")
    for i, (utt, (freq, seconds)) in enumerate(GOOD.items()):
        sf.write(root / f"{utt}.wav", tone(freq, seconds, i), 16000, subtype="PCM_16")
    (root / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    return root, {u: sf.read(root / f"{u}.wav", dtype="float32")[0] for u in GOOD}


@pytest.fixture(scope="module")
def expected(tiny_whisper, wavs) -> dict[str, str]:
    """Each waveform decoded alone, in memory."""
    waves = wavs[1]
    hyps = dict(zip(waves, transcribe(list(waves.values()), tiny_whisper, batch_size=1)))
    assert len(set(hyps.values())) > 1, "the tiny model should give input-dependent hypotheses"
    return hyps


@pytest.fixture
def data(wavs, tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    """A data dir of the five good wavs, one missing and one broken file (with a text file)."""
    root, waves = wavs
    d = DataDir()
    for utt in GOOD:
        d.add(utt, "spk1", wav=str(root / f"{utt}.wav"), text="hello world")
    d.add("utt-broken", "spk2", wav=str(root / "broken.wav"), text="hello world")
    d.add("utt-missing", "spk2", wav=str(root / "missing.wav"), text="hello world")
    d.save(tmp_path / "data")
    return tmp_path / "data", waves


def check_failed(out: Path) -> None:
    failed = read_failed(out)
    assert list(failed) == ["utt-broken", "utt-missing"]
    assert "utt-broken" in failed["utt-broken"] and "broken.wav" in failed["utt-broken"]
    assert "not a readable audio file" in failed["utt-broken"]
    assert "utt-missing" in failed["utt-missing"] and "missing.wav" in failed["utt-missing"]
    assert "file not found" in failed["utt-missing"]


@pytest.mark.slow
def test_transcribe_nj2_failed_and_rerun(tiny_whisper, expected, data, tmp_path):
    data_dir, _ = data
    out = tmp_path / "out"
    r = run_cli("--model", tiny_whisper, "--nj", 2, "--batch-size", 2, data_dir, out)
    assert r.returncode == 1, r.stderr  # two utterances failed, the rest are transcribed
    assert "2 utterance(s) failed" in r.stderr and str(out / "failed") in r.stderr
    check_failed(out)
    text_lines = (out / "text").read_text(encoding="utf-8").splitlines()
    keys = [ln.split(maxsplit=1)[0] for ln in text_lines]
    assert keys == sorted(GOOD, key=str.encode)
    hyps = read_kv(out / "text", allow_empty_value=True)
    # The same hypotheses as decoding each waveform alone, in memory: job split, length-sorted
    # batches and the merge put every hypothesis on its own utterance.
    assert hyps == expected
    for j in (1, 2):
        assert (out / "log" / f"transcribe.{j}.log").is_file()
        assert (out / "split2" / f".done.{j}").is_file()
        assert not (out / "split2" / f"text.{j}.partial").exists()
    settings = json.loads((out / "settings.json").read_text())
    assert settings["model_dir"] == str(tiny_whisper.resolve()) and settings["beam_size"] == 1
    wer = json.loads((out / "wer.json").read_text())
    assert wer["num_utts"] == len(GOOD) and wer["refs_without_hyp"] == 2 and wer["ref_words"] == 2 * len(GOOD)
    assert (out / "alignment.txt").read_text().count("#csid") == len(GOOD)

    # A re-run is a no-op: finished jobs are not run again and the output stays.
    job_files = sorted((out / "split2").iterdir())
    stamps = {p: p.stat().st_mtime_ns for p in job_files}
    before = (out / "text").read_bytes()
    r2 = run_cli("--model", tiny_whisper, "--nj", 2, "--batch-size", 2, "--tolerate-failures", data_dir, out)
    assert r2.returncode == 0, r2.stderr
    assert "all 2 jobs already done" in r2.stderr
    assert sorted((out / "split2").iterdir()) == job_files
    assert {p: p.stat().st_mtime_ns for p in job_files} == stamps
    assert (out / "text").read_bytes() == before
    check_failed(out)

    # Other decoding settings in the same OUT_DIR are refused, naming the difference.
    r3 = run_cli("--model", tiny_whisper, "--beam-size", 2, "--nj", 2, data_dir, out)
    assert r3.returncode == 2 and "beam_size: 1 -> 2" in r3.stderr, r3.stderr
    assert (out / "text").read_bytes() == before


@pytest.mark.slow
def test_batched_equals_unbatched_and_beam(tiny_whisper, expected, data, tmp_path):
    data_dir, waves = data
    assert transcribe(list(waves.values()), tiny_whisper, batch_size=4) == list(expected.values())
    res = transcribe_data_dir(data_dir, tmp_path / "beam", str(tiny_whisper), beam_size=3, batch_size=3)
    assert set(res.hyps) == set(GOOD) and set(res.failed) == {"utt-broken", "utt-missing"}
    assert json.loads((tmp_path / "beam" / "settings.json").read_text())["decoding"] == "beam search (3)"


@pytest.mark.slow
def test_resume_keeps_journal_and_drops_a_cut_line(tiny_whisper, expected, data, tmp_path):
    """A job killed mid-way left hypotheses in its journal, the last line cut: those whole lines are
    kept (not decoded again), the cut one is decoded again."""
    data_dir, _ = data
    out = tmp_path / "out"
    (out / "split1").mkdir(parents=True)
    (out / "split1" / "text.1.partial").write_text("utt-a kept from the first run\nutt-b cut mid", encoding="utf-8")
    res = transcribe_data_dir(data_dir, out, str(tiny_whisper), batch_size=2)
    hyps = read_kv(out / "text", allow_empty_value=True)
    assert hyps == res.hyps
    assert hyps["utt-a"] == "kept from the first run"
    assert {u: h for u, h in hyps.items() if u != "utt-a"} == {u: h for u, h in expected.items() if u != "utt-a"}
    assert not (out / "split1" / "text.1.partial").exists() and (out / "split1" / ".done.1").is_file()


@pytest.mark.slow
def test_bad_model_is_a_clear_error(data, tmp_path):
    data_dir, _ = data
    r = run_cli("--model", tmp_path / "no-such-model", data_dir, tmp_path / "out")
    assert r.returncode == 2 and "cannot load Whisper model" in r.stderr and "no-such-model" in r.stderr, r.stderr
    assert not (tmp_path / "out" / "text").exists()


@pytest.mark.slow
def test_dump_feats_asr_entry(tiny_whisper, expected, data, tmp_path):
    data_dir, _ = data
    conf = tmp_path / "feats.yaml"
    conf.write_text(f"fbank:\n  feature: fbank\nasr:\n  feature: asr\n  model: {tiny_whisper}\n"
                    f"  beam_size: 1\n  batch_size: 2\n  language: en\n", encoding="utf-8")
    listed = subprocess.run([sys.executable, "-m", "mer.bin.dump_feats", "--config", conf, "--list"], cwd=REPO,
                            env=cli_env(), capture_output=True, text=True)
    assert listed.stdout.split() == ["fbank", "asr"]
    out = tmp_path / "dump" / "asr"
    assert dump_feats.main(["--config", str(conf), "--name", "asr", str(data_dir), str(out)]) == 1
    assert dump_feats.main(["--config", str(conf), "--name", "asr", "--tolerate-failures",
                            str(data_dir), str(out)]) == 0
    check_failed(out)
    assert not (out / "feats.scp").exists()
    hyps = read_kv(out / "text", allow_empty_value=True)
    assert hyps == expected
    settings = json.loads((out / "settings.json").read_text())
    assert settings["language"] == "en" and settings["batch_size"] == 2


# ---------------------------------------------------------------- scoring

def test_score_wer_counts():
    refs = {"a": "the cat sat on the mat", "b": "hello big world", "c": "red green blue", "only-ref": "x y"}
    hyps = {"a": "the cat sat on mat",          # 1 deletion
            "b": "hello big bad world",         # 1 insertion
            "c": "red grey blue",               # 1 substitution
            "only-hyp": "z"}
    r = score_wer(refs, hyps)
    assert (r["substitutions"], r["deletions"], r["insertions"], r["hits"]) == (1, 1, 1, 10)
    assert r["ref_words"] == 12 and r["num_utts"] == 3
    assert r["wer"] == pytest.approx(3 / 12)
    assert r["refs_without_hyp"] == 1 and r["hyps_without_ref"] == 1
    assert r["normalisation"]["name"] == "whisper-english"
    ops = {a.utt: a.ops for a in r["alignments"]}
    assert ops == {"a": list("CCCCDC"), "b": list("CCIC"), "c": list("CSC")}


def test_alignment_file(tmp_path):
    r = score_wer({"u1": "a b c", "u2": "yes"}, {"u1": "a x c d", "u2": ""})
    write_alignments(tmp_path / "alignment.txt", r["alignments"])
    assert (tmp_path / "alignment.txt").read_text().splitlines() == [
        "u1 ref a b c ***",
        "u1 hyp a x c d",
        "u1 op  C S C I",
        "u1 #csid 2 1 1 0",
        "u2 ref yes",
        "u2 hyp ***",
        "u2 op  D",
        "u2 #csid 0 0 0 1",
    ]


def test_no_reference_words():
    r = score_wer({"u": "[laughter] um"}, {"u": "hi"})
    assert r["ref_words"] == 0 and r["insertions"] == 1 and r["wer"] is None


@pytest.mark.parametrize("ref, hyp, errors", [
    ("Hello, World!", "hello world", 0),                              # case, punctuation
    ("And so, my fellow Americans: ask not", "and so my fellow americans ask not", 0),
    ("It's twenty-one.", "it is 21", 0),                              # contraction, spelled number
    ("one thousand two hundred", "1,200", 0),                         # number words vs digits
    ("he came first", "He came 1st.", 0),                             # ordinals
    ("uh I [laughter] agree (mumbles)", "I agree", 0),               # fillers, bracketed text
    ("Mr. Smith", "mister smith", 0),                                 # titles
    ("the colour", "the color", 1),                                   # no spelling map: documented
    ("twenty one", "21 1", 1),
])
def test_normalisation_cases(ref, hyp, errors):
    r = score_wer({"u": ref}, {"u": hyp})
    assert r["substitutions"] + r["deletions"] + r["insertions"] == errors, (normalize_text(ref), normalize_text(hyp))


def test_normalize_text_and_switching_it_off():
    assert normalize_text("  Ask   NOT,\twhat ") == "ask not what"
    assert normalize_text("Ça va? Très bien!", language="fr") == "ça va très bien"
    r = score_wer({"u": "Hello, World"}, {"u": "hello world"}, normalize=False)
    assert r["substitutions"] == 2 and r["normalisation"]["name"] == "none"


# ---------------------------------------------------------------- real recording

def test_real_recording_whisper_tiny_en(tmp_path):
    root = os.environ.get("MER_ASR_DATA")
    if not root:
        pytest.skip("set MER_ASR_DATA to a Kaldi data dir of a real English recording (wav.scp, text)")
    data_dir = Path(root)
    if not (data_dir / "wav.scp").is_file() or not (data_dir / "text").is_file():
        pytest.skip(f"MER_ASR_DATA={root} has no wav.scp and text")
    if not is_complete(REAL_WHISPER):
        pytest.skip(f"whisper-tiny.en is not prepared at {REAL_WHISPER}")
    for utt, spec in read_kv(data_dir / "wav.scp").items():
        if not (REPO / spec).is_file():  # relative paths are read from the repository root
            pytest.skip(f"{data_dir}/wav.scp: {utt}'s audio {spec} does not resolve from {REPO}")
    out = tmp_path / "out"
    t0 = time.time()
    r = run_cli("--model", "whisper-tiny.en", data_dir, out)
    seconds = time.time() - t0
    assert r.returncode == 0, r.stderr
    refs = read_kv(data_dir / "text")
    hyps = read_kv(out / "text")
    assert set(hyps) == set(refs)
    assert {u: normalize_text(h) for u, h in hyps.items()} == {u: normalize_text(t) for u, t in refs.items()}
    wer = json.loads((out / "wer.json").read_text())
    assert wer["wer"] == 0.0 and wer["ref_words"] > 0
    assert wer["substitutions"] == wer["deletions"] == wer["insertions"] == 0
    assert wer["num_utts"] == len(refs) and wer["hits"] == wer["ref_words"]
    print(f"\nwhisper-tiny.en on {len(refs)} real utterance(s): {seconds:.1f} s (command, model load included)")
