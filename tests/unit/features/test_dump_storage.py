"""Dumps that fit a disk: float16 storage, layer subsets read by hidden-state index, and the space
check that stops a dump (and stage 2) before it starts when the disk is too small."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from mer.bin import check_dump_space, dump_feats
from mer.combine.linear_probe import LinearProbe
from mer.data.datadir import DataDir
from mer.data.durations import durations
from mer.features import dump_size
from mer.features.dump_dtype import FLOAT16_MAX, to_stored
from mer.inputs import DumpInput, FeatureDump
from tests.helpers import REPO
from tests.helpers.audio import sine, to_int, write_riff
from tests.helpers.dumps import cli_env, load_feats
from tests.helpers.slurm import fake_slurm_env

SECONDS = {"s1-a": 0.5, "s1-b": 1.2, "s2-c": 0.8}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("storage")
    d = DataDir()
    for i, (utt, seconds) in enumerate(SECONDS.items()):
        n = int(seconds * 16000)
        write_riff(root / f"{utt}.wav", to_int(sine(n, 16000, 200 + 100 * i, .5), 16), 16000, 16)
        d.add(utt, utt.split("-")[0], wav=str(root / f"{utt}.wav"), emo="neu")
    d.save(root / "data")
    return root / "data"


def dump(*args) -> int:
    return dump_feats.main([str(a) for a in args])


def whisper_dump(model: Path, data: Path, out: Path, *extra) -> FeatureDump:
    assert dump("--feature", "hf", "--model", model, "--device", "cpu", "--whisper-input-seconds", "2",
                *extra, data, out) == 0
    return FeatureDump(out)


# ------------------------------------------------------------------ float16

def test_float16_round_trip(tiny_speech_encoders, data, tmp_path):
    model = tiny_speech_encoders["whisper"]
    f32 = whisper_dump(model, data, tmp_path / "f32", "--layers", "all")
    f16 = whisper_dump(model, data, tmp_path / "f16", "--layers", "all", "--dtype", "float16")
    assert f16.info["dtype"] == "float16" and f32.info["dtype"] == "float32"
    for utt in SECONDS:
        a, b = f32[utt], f16[utt]
        assert b.dtype == np.float32 and b.shape == a.shape  # read back as float32, same frames and dim
        # float16 keeps 11 significant bits: relative error at most 2^-11 (values near 0: absolute)
        np.testing.assert_allclose(b, a, rtol=2.0 ** -11, atol=2.0 ** -24)
        assert not np.array_equal(a, b)  # it was stored in less than float32
    # what training sees: the same input dims
    for name, source in (("f32", f32), ("f16", f16)):
        inp = DumpInput(name, source)
        assert (inp.info.dim, inp.info.num_layers) == (16, 3)
        assert inp.load(DataDir.load(data), "s1-a").dtype.__str__() == "torch.float32"
    ark_bytes = [sum(p.stat().st_size for p in d.path.rglob("*.ark")) for d in (f32, f16)]
    assert ark_bytes[1] < 0.6 * ark_bytes[0]


def test_float16_refuses_what_it_cannot_hold():
    mat = np.array([[1.0, -2.0 * FLOAT16_MAX]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"utterance u7: .*exceeds float16's range.*--dtype float32"):
        to_stored(mat, "float16", "u7")
    assert to_stored(mat, "float32", "u7") is mat


def test_dtype_options_are_checked(data, tmp_path, capsys):
    with pytest.raises(SystemExit):
        dump("--feature", "logmel", "--dtype", "float16", "--compress", "3", data, tmp_path / "x")
    assert "choose one" in capsys.readouterr().err
    assert dump("--feature", "logmel", data, tmp_path / "lm") == 0
    with pytest.raises(SystemExit, match=r"other settings \(dtype: 'float32' -> 'float16'\)"):
        dump("--feature", "logmel", "--dtype", "float16", data, tmp_path / "lm")


# ------------------------------------------------------------------ layer subsets

def test_layer_subset_is_read_by_hidden_state(tiny_speech_encoders, data, tmp_path):
    model = tiny_speech_encoders["whisper"]
    every = whisper_dump(model, data, tmp_path / "all", "--layers", "all")
    subset = whisper_dump(model, data, tmp_path / "sub", "--layers", "2,0")
    assert subset.hidden_states == [2, 0] and subset.num_layers == 2
    dd = DataDir.load(data)
    for utt in SECONDS:
        assert subset[utt].shape[1] == 2 * 16  # exactly the two layers asked for
    for k in (0, 2):
        want = DumpInput("all", every, hidden_states=k).load(dd, "s1-b").numpy()
        got = DumpInput("sub", subset, hidden_states=[k])
        assert got.info.num_layers == 1
        np.testing.assert_array_equal(got.load(dd, "s1-b").numpy(), want)
        np.testing.assert_array_equal(want, every["s1-b"][:, k * 16:(k + 1) * 16])
    with pytest.raises(ValueError, match=r"hidden_states: hidden state\(s\) \[1\] not stored; .*sub holds "
                                         r"hidden states 2, 0"):
        DumpInput("sub", subset, hidden_states=[1])
    with pytest.raises(ValueError, match="not both"):
        DumpInput("sub", subset, layers=[0], hidden_states=[2])
    # a probe names the hidden state too
    ctx = namedtuple("Ctx", "dumpdir")(tmp_path)
    probe = LinearProbe("sub", hidden_state=0)
    probe._open(ctx)
    assert probe.layer == 1
    with pytest.raises(ValueError, match=r"hidden state\(s\) \[1\] not stored"):
        LinearProbe("sub", hidden_state=1)._open(ctx)


# ------------------------------------------------------------------ size and space

def test_durations_from_utt2dur_headers_and_pipes(data, tmp_path):
    d = DataDir.load(data)
    got = durations(d)
    assert got.unknown == [] and got.seconds == pytest.approx(sum(SECONDS.values()), abs=1e-3)
    d.extra["utt2dur"] = {"s1-a": "10.0"}
    d.wav_scp["s2-c"] = f"cat {d.wav_scp['s2-c']} |"
    got = durations(d)
    assert got.unknown == ["s2-c"] and got.seconds == pytest.approx(10.0 + SECONDS["s1-b"], abs=1e-3)
    assert got.estimated_seconds == pytest.approx(got.seconds * 1.5)


def test_estimate_matches_the_dump(tiny_speech_encoders, data, tmp_path):
    model = tiny_speech_encoders["whisper"]
    for extra in ((), ("--dtype", "float16")):
        out = tmp_path / f"d{len(extra)}"
        args = dump_feats.get_parser().parse_args(["--feature", "hf", "--model", str(model), "--layers", "0,2",
                                                   "--whisper-input-seconds", "2", *extra, str(data), str(out)])
        est = dump_size.estimate(args, DataDir.load(data))
        whisper_dump(model, data, out, "--layers", "0,2", *extra)
        written = sum(p.stat().st_size for p in out.rglob("*.ark"))
        assert written <= est.bytes <= 1.3 * written, (extra, written, est.bytes)


def small_disk(monkeypatch, free: int) -> None:
    """The disk under every dump has `free` bytes left (as a nearly full scratch disk would)."""
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * free, 9 * free, free))


def test_dump_refuses_to_start_without_space(data, tmp_path, monkeypatch):
    small_disk(monkeypatch, 1000)
    out = tmp_path / "lm"
    with pytest.raises(SystemExit) as e:
        dump("--feature", "logmel", data, out)
    msg = str(e.value)
    # 2.5 s x 100 frames/s x 80 bins x 4 bytes = 80 kB, + 10 %
    assert "need about 88." in msg and "KB more" in msg and "has 1.0 KB free" in msg and "--skip-space-check" in msg
    assert not (out / "feats.scp").exists() and not list(out.rglob("*.ark"))
    assert dump("--feature", "logmel", "--skip-space-check", data, out) == 0
    assert len(load_feats(out)) == 3


def test_stage_check_sums_the_dumps_and_counts_finished_ones(data, tmp_path, monkeypatch, capsys):
    conf = tmp_path / "feats.yaml"
    conf.write_text("lm: {feature: logmel}\nfb: {feature: fbank, num_mel_bins: 40}\n")
    dumpdir = tmp_path / "dump"
    small_disk(monkeypatch, 100_000)  # room for either dump (88 kB, 44 kB), not both
    assert check_dump_space.main(["--config", str(conf), str(data), str(dumpdir)]) == 1
    out, err = capsys.readouterr()
    assert "lm: about 88." in out and "fb: about 44." in out and "need about 133." in err
    assert check_dump_space.main(["--config", str(conf), "--skip-space-check", str(data), str(dumpdir)]) == 0
    assert dump("--feature", "logmel", "--skip-space-check", data, dumpdir / "lm") == 0
    small_disk(monkeypatch, 45_000)  # room for fb alone: the finished lm needs nothing more
    assert check_dump_space.main(["--config", str(conf), str(data), str(dumpdir)]) == 0
    assert "already there" in capsys.readouterr().out
    assert check_dump_space.main(["--config", str(conf), "--name", "lm", str(data), str(dumpdir)]) == 0
    small_disk(monkeypatch, 40_000)
    assert check_dump_space.main(["--config", str(conf), str(data), str(dumpdir)]) == 1


# ------------------------------------------------------------------ Slurm

@pytest.mark.slow
def test_slurm_array_shards_merge_as_local_jobs_do(data, tmp_path):
    fake = fake_slurm_env(tmp_path)
    env = {**cli_env(), "PATH": fake["PATH"], "FAKE_SBATCH_ARGV": fake["FAKE_SBATCH_ARGV"]}
    assert dump("--feature", "logmel", "--dtype", "float16", data, tmp_path / "local") == 0
    r = subprocess.run([sys.executable, "-m", "mer.bin.dump_feats", "--feature", "logmel", "--dtype", "float16",
                        "--nj", "2", "--cmd", f"{REPO}/utils/slurm_cmd.sh", str(data), str(tmp_path / "slurm")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "--array=1-2" in (tmp_path / "sbatch.argv").read_text()
    local, slurm = FeatureDump(tmp_path / "local"), FeatureDump(tmp_path / "slurm")
    assert sorted(slurm.num_frames) == sorted(SECONDS) and slurm.num_frames == local.num_frames
    for utt in SECONDS:
        np.testing.assert_array_equal(local[utt], slurm[utt])
    assert sorted(p.name for p in (tmp_path / "slurm" / "split2").glob("*.ark")) == ["feats.1.ark", "feats.2.ark"]
    info = json.loads((tmp_path / "slurm" / "feats_info.json").read_text())
    assert info["nj"] == 2 and info["dtype"] == "float16" and info["num_utts"] == 3
