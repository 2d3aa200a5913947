"""A dump dir is never silently corrupt: one writer at a time, complete jobs only, verified merges,
a changed data dir refused, no orphan jobs after a killed driver."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mer.data.datadir import DataDir
from tests.helpers import REPO
from tests.helpers.dumps import cli_env, load_feats


def make_data(root: Path, n: int, seconds: float = 1.0) -> Path:
    rng = np.random.default_rng(0)
    d = DataDir()
    for i in range(n):
        path = root / "wav" / f"u{i:03d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.1 * rng.normal(size=int(16000 * seconds))).astype("f4"), 16000)
        d.add(f"u{i:03d}", "s1", wav=str(path), emo="neu")
    d.save(root / "data")
    return root / "data"


def dump(data: Path, out: Path, *extra: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mer.bin.dump_feats", "--feature", "fbank", *extra,
                             str(data), str(out)], cwd=REPO, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def finish(proc: subprocess.Popen) -> int:
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err[-3000:]
    return proc.returncode


@pytest.mark.slow
def test_two_dumps_into_one_folder(tmp_path):
    data = make_data(tmp_path, 40, seconds=3.0)
    out = tmp_path / "dump"
    first = dump(data, out, "--nj", "2")
    deadline = time.time() + 60
    while not (out / ".lock").exists() and time.time() < deadline:
        time.sleep(0.05)
    second = dump(data, out, "--nj", "2")
    err2 = second.communicate(timeout=300)[1]
    first.communicate(timeout=300)
    assert first.returncode == 0
    assert second.returncode != 0 and "is being written by another process" in err2 and f"pid {first.pid}" in err2
    assert len(load_feats(out)) == 40  # the result loads completely


@pytest.mark.slow
def test_killed_driver_leaves_no_orphans_and_resumes(tmp_path):
    data = make_data(tmp_path, 60, seconds=4.0)
    out = tmp_path / "dump"
    driver = dump(data, out, "--nj", "2", "--cmd", "utils/local_cmd.sh")
    deadline = time.time() + 60
    while not list(out.glob("split2/feats.*.ark.tmp")) and time.time() < deadline:
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)  # the driver alone, as `kill -9` of run.sh's child would
    driver.wait()
    deadline = time.time() + 30  # SIGTERM reaches them at once; a loaded machine may take seconds to act
    while time.time() < deadline:
        jobs = subprocess.run(["pgrep", "-f", f"mer.bin.(dump_feats|run_jobs).*{out}"], capture_output=True,
                              text=True).stdout.split()
        if not jobs:
            break
        time.sleep(0.2)
    assert jobs == [], f"orphan dump jobs still running: {jobs}"
    again = dump(data, out, "--nj", "2")
    err = again.communicate(timeout=300)[1]
    assert again.returncode == 0, err
    assert "taking over the lock" in err  # the dead driver's lock
    assert len(load_feats(out)) == 60


@pytest.mark.slow
def test_changed_data_dir_and_corrupt_ark_are_refused(tmp_path):
    data = make_data(tmp_path, 12)
    out = tmp_path / "dump"
    finish(dump(data, out, "--nj", "2"))
    d = DataDir.load(data)
    d.add("u999", "s1", wav=str(tmp_path / "wav/u000.wav"), emo="neu")
    d.save(data)
    proc = dump(data, out, "--nj", "2")
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode != 0 and "u999" in err and "were not in it" in err
    # a job whose ark was cut after it finished is not merged as if it were whole
    d.utt2spk.pop("u999")
    d.wav_scp.pop("u999")
    d.utt2emo.pop("u999")
    d.save(data)
    ark = out / "split2" / "feats.2.ark"
    whole = load_feats(out)
    ark.write_bytes(ark.read_bytes()[: ark.stat().st_size // 2])  # its checksum no longer matches: redone
    proc = dump(data, out, "--nj", "2")
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 0 and "job 2/2" in err and "doing the job again" in err, err[-3000:]
    assert "job 1/2: " not in err.split("doing the job again")[0]  # the intact job is kept
    again = load_feats(out)
    assert again.keys() == whole.keys() and all(np.array_equal(again[u], whole[u]) for u in whole)
    # a dump without checksums (made before them): the merge's checks still refuse a cut ark
    ark.write_bytes(ark.read_bytes()[: ark.stat().st_size // 2])
    (out / "split2" / "feats.2.ark.sha256").unlink()
    proc = dump(data, out, "--nj", "2")
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode != 0 and "job 2" in err and "remove" in err and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("nj", [1, 2])
def test_removed_utterances_keep_the_dump(tmp_path, nj):
    data = make_data(tmp_path, 8)
    out = tmp_path / "dump"
    finish(dump(data, out, "--nj", str(nj)))
    DataDir.load(data).subset([f"u{i:03d}" for i in range(6)]).save(data)  # fix_data_dir after failures
    finish(dump(data, out, "--nj", str(nj)))
    assert len(load_feats(out)) == 8  # a superset of the data dir serves it


@pytest.mark.slow
def test_small_input_problems_are_named(tmp_path):
    data = make_data(tmp_path, 3, seconds=1.0)
    wav = tmp_path / "wav" / "u001.wav"
    wav.write_bytes(wav.read_bytes()[:12000])  # the header still promises 1 s
    long = tmp_path / "wav" / "long.wav"
    sf.write(long, np.zeros(16000 * 5, dtype="f4"), 16000)
    d = DataDir.load(data)
    d.add("u_long", "s1", wav=str(long), emo="neu")
    d.save(data)
    out = tmp_path / "dump"
    proc = dump(data, out, "--max-utt-seconds", "4")
    err = proc.communicate(timeout=120)[1]
    assert "utterance u001: " in err and f"{wav}: truncated: its header promises 1.000 s" in err
    failed = (out / "failed").read_text()
    assert "u_long\t" in failed and "more than --max-utt-seconds 4" in failed
    assert proc.returncode == 1 and len(load_feats(out)) == 3
    # an output dir that cannot be made (a file stands in its path: root can write anywhere else),
    # and a data dir with a duplicate id: one line naming the file, no traceback
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    err = dump(data, blocker / "dump").communicate(timeout=60)[1]
    assert "dump_feats: error:" in err and str(blocker) in err and "Traceback" not in err
    (data / "utt2emo").write_text((data / "utt2emo").read_text() + "u000 ang\n")
    err = dump(data, tmp_path / "dump2").communicate(timeout=60)[1]
    assert f"{data / 'utt2emo'}" in err and "duplicate key 'u000'" in err and "Traceback" not in err


def test_byte_order_mark_and_no_pipes(tmp_path):
    from mer.data.fix import fix_data_dir
    from mer.data.validate import check_data_dir

    data = make_data(tmp_path, 3)
    for name in ("utt2spk", "wav.scp"):
        (data / name).write_bytes(b"\xef\xbb\xbf" + (data / name).read_bytes())
    fix_data_dir(data)
    assert len(DataDir.load(data)) == 3  # the first utterance is read, not dropped
    d = DataDir.load(data)
    d.wav_scp["u002"] = f"cat {d.wav_scp['u002']} |"
    d.save(data)
    assert check_data_dir(data, no_text=True).errors == []
    errors = check_data_dir(data, no_text=True, no_pipes=True).errors
    assert len(errors) == 1 and "'u002' is a command" in errors[0]


@pytest.mark.slow
def test_one_progress_line_over_all_jobs(tmp_path):
    data = make_data(tmp_path, 10)
    out = tmp_path / "dump"
    proc = dump(data, out, "--nj", "2", "--cmd", "utils/local_cmd.sh")
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err
    bars = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("fbank dump:")]
    assert bars and "10/10" in bars[-1]  # utterances done / total
    assert re.search(r"\d(utt/s|s/utt)\]", bars[-1])  # and the rate
