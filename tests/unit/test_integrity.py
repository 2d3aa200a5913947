"""Integrity of what runs read back: checkpoints that cannot run code, damaged dumps, pack members,
concurrent stage-3 runs."""
from __future__ import annotations

import io
import json
import random
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from mer.data.ark_checksum import write_checksum
from mer.data.dump_table import DumpReadError
from mer.checkpoint import CheckpointError, load_checkpoint, pack_rng, save_checkpoint, unpack_rng
from mer.inputs import FeatureDump
from tests.helpers.recipes import REPO, copy_recipe
from tests.helpers.training import ENV, make_corpus, run, train_cmd, write_config, write_dump


class CreatesAFile:
    """Pickled, it calls open(path, 'w') when unpickled: a stand-in for any code in a pickle."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("integrity"), num_speakers=4, utts_per_speaker=6)


# ------------------------------------------------------------------ checkpoints

@pytest.mark.slow
def test_resuming_a_checkpoint_that_runs_code_is_refused(corpus, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", epochs=1)
    run(train_cmd(corpus, cfg, "exp/evil"))
    ckpt = corpus / "exp/evil/checkpoint.pt"
    state = torch.load(ckpt, weights_only=True)  # what training writes loads safely
    marker = tmp_path / "created_by_the_checkpoint"
    state["history"].append(CreatesAFile(marker))
    with open(ckpt, "wb") as f:
        torch.save(state, f)
    proc = subprocess.run(train_cmd(corpus, cfg, "exp/evil", "--override", "train.epochs=2"), env=ENV,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"{ckpt}: refused" in proc.stderr and "io.open" in proc.stderr, proc.stderr[-2000:]
    assert not marker.exists()


def test_best_pt_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "created"
    path = tmp_path / "best.pt"
    torch.save({"model": {}, "epoch": CreatesAFile(marker)}, path)
    with pytest.raises(CheckpointError, match=f"{path}: refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_random_states_survive_a_safe_round_trip(tmp_path):
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    np.random.normal()  # leaves a cached gauss in NumPy's legacy state
    save_checkpoint({"rng": pack_rng(), "value": np.float64(0.5)}, tmp_path / "c.pt")
    expected = (random.random(), np.random.normal(), np.random.randint(1 << 30), torch.rand(3))
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    state = load_checkpoint(tmp_path / "c.pt")
    assert type(state["value"]) is float
    unpack_rng(state["rng"])
    got = (random.random(), np.random.normal(), np.random.randint(1 << 30), torch.rand(3))
    assert got[:3] == expected[:3] and torch.equal(got[3], expected[3])


def test_checkpoint_of_the_old_format_still_resumes(tmp_path):
    """Written before: NumPy's legacy state tuple and a NumPy scalar, pickled as NumPy objects."""
    np.random.seed(7)
    old = {"rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
           "best": {"value": np.float64(0.25)}}
    torch.save(old, tmp_path / "old.pt")
    expected = np.random.randint(1 << 30, size=4)
    np.random.seed(0)
    state = load_checkpoint(tmp_path / "old.pt")
    unpack_rng(state["rng"])
    assert np.array_equal(np.random.randint(1 << 30, size=4), expected)
    assert state["best"]["value"] == 0.25


# ------------------------------------------------------------------ damaged dumps

@pytest.fixture(scope="module")
def trained(corpus):
    cfg = write_config(corpus / "ok.yaml", epochs=1)
    run(train_cmd(corpus, cfg, "exp/ok"))
    return corpus / "exp/ok"


def infer(corpus, exp, dumpdir, out):
    return subprocess.run([sys.executable, "-m", "mer.bin.infer", "--exp-dir", str(exp), "--data-dir",
                           str(corpus / "data/test"), "--dumpdir", str(dumpdir), "--out", str(out)], env=ENV,
                          capture_output=True, text=True)


def copied_dump(corpus, tmp_path) -> Path:
    """The corpus's dumps copied as `cp -a` would: the scp files still name the original arks."""
    shutil.copytree(corpus / "dump", tmp_path / "dump")
    return tmp_path / "dump"


def entry_of(dump: Path, utt: str) -> tuple[Path, int]:
    line = next(ln for ln in (dump / "feats.scp").read_text().splitlines() if ln.split()[0] == utt)
    ark, _, offset = line.split()[1].rpartition(":")
    return Path(ark), int(offset)


@pytest.mark.slow
def test_flipped_bytes_in_an_ark_fail_inference_naming_the_ark(corpus, trained, tmp_path):
    dump = copied_dump(corpus, tmp_path)
    ark = dump / "audio/feats.ark"
    data = bytearray(ark.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16] = bytes(b ^ 0xFF for b in data[middle:middle + 16])
    ark.write_bytes(bytes(data))
    out = tmp_path / "decode"
    proc = infer(corpus, trained, dump, out)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"{ark}: its bytes differ from the sha256" in proc.stderr and "re-run stage 2" in proc.stderr
    assert "a copied recipe?" in proc.stderr  # the copy's scp named the original arks: re-based, said
    assert not (out / "meta.json").exists()


@pytest.mark.slow
def test_non_finite_posteriors_leave_no_done_marker_and_a_rerun_redoes_the_decode(corpus, trained, tmp_path):
    dump = copied_dump(corpus, tmp_path)
    good = {u: np.asarray(m) for u, m in kaldiio.load_scp(str(dump / "audio/feats.scp")).items()}
    bad = {u: m.copy() for u, m in good.items()}
    victim = sorted(u for u in good if u.startswith("spk3-"))[2]  # a test-set utterance
    bad[victim][0, 0] = np.nan
    info = json.loads((dump / "audio/feats_info.json").read_text())
    write_dump(dump / "audio", bad, info["dim"], info["num_layers_stored"])  # consistent checksum: not caught there
    out = tmp_path / "decode"
    proc = infer(corpus, trained, dump, out)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "non-finite posteriors for 1 of 6 utterance(s)" in proc.stderr and victim in proc.stderr
    assert not (out / "meta.json").exists()
    write_dump(dump / "audio", good, info["dim"], info["num_layers_stored"])  # repaired
    proc = infer(corpus, trained, dump, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "meta.json").read_text())["num_utts"] == 6


def test_damaged_matrix_header_names_utterance_and_ark(corpus, tmp_path):
    dump = copied_dump(corpus, tmp_path)
    utt = "spk1-0003"
    ark, offset = entry_of(dump / "audio", utt)
    data = bytearray((dump / "audio/feats.ark").read_bytes())
    assert data[offset:offset + 5] == b"\0BFM "  # binary float matrix; rows follow as <4><int32>
    data[offset + 6:offset + 10] = struct.pack("<i", 2**31 - 1)
    (dump / "audio/feats.ark").write_bytes(bytes(data))
    write_checksum(dump / "audio/feats.ark")  # damaged before its checksum was taken: only the read can tell
    feats = FeatureDump(dump / "audio")
    assert feats["spk1-0002"].shape[0] == feats.num_frames["spk1-0002"]  # the others still read
    with pytest.raises(DumpReadError, match=rf"utterance {utt}: its matrix at {dump / 'audio/feats.ark'}:{offset} "
                                            rf"cannot be read"):
        feats[utt]


def test_copied_dump_reads_its_own_arks_or_is_refused(corpus, tmp_path, caplog):
    dump = copied_dump(corpus, tmp_path)
    original = corpus / "dump/audio/feats.ark"
    assert entry_of(dump / "audio", "spk0-0001")[0] == original  # what `cp -a` leaves
    feats = FeatureDump(dump / "audio")
    assert "a copied recipe?" in caplog.text
    ours = kaldiio.load_mat(f"{dump / 'audio/feats.ark'}:{entry_of(dump / 'audio', 'spk0-0001')[1]}")
    assert np.array_equal(feats["spk0-0001"], ours)
    (dump / "audio/feats.ark").unlink()  # no copy of the ark in this dump: refused, not read from the original
    with pytest.raises(DumpReadError, match=rf"the ark {original} lies outside {dump / 'audio'}, which has no copy"):
        FeatureDump(dump / "audio")


# ------------------------------------------------------------------ pack members

def tiny_pack(tmp_path: Path, **replace: bytes) -> Path:
    """A real pack of a tiny state (mer.packing.write_archive), then rewritten with members replaced
    or added (name -> bytes, or a path whose file is added as it is)."""
    from mer.packing import Bundle, write_archive

    bundle = Bundle(conf={"model": {"name": "memocmt"}}, classes=["ang", "neu"],
                    state={"model": {"w": torch.ones(2, 3)}, "epoch": 1, "metric": "ua", "value": 0.5},
                    inputs={"audio": {"spec": {"type": "waveform"}, "kind": "audio"}},
                    info={"system": "memocmt", "config": "c", "fold": None, "created": "now", "source": "here",
                          "best_metric": {}}, scores={"decode_test/scores.json": {"ua": 0.5}})
    good = write_archive(bundle, tmp_path / "good.tar.gz")
    if not replace:
        return good
    out = tmp_path / "forged.tar.gz"
    with tarfile.open(good) as src, tarfile.open(out, "w:gz", compresslevel=1) as dst:
        for m in src:
            name = m.name.split("/", 1)[1]
            if name not in replace:
                dst.addfile(m, src.extractfile(m))
        for name, data in replace.items():
            if isinstance(data, Path):
                dst.add(data, arcname=f"good/{name}")
            else:
                ti = tarfile.TarInfo(f"good/{name}")
                ti.size = len(data)
                dst.addfile(ti, io.BytesIO(data))
    return out


def test_pack_round_trip(tmp_path):
    from mer.packing import read_archive

    b = read_archive(tiny_pack(tmp_path))
    assert b.classes == ["ang", "neu"] and torch.equal(b.state["model"]["w"], torch.ones(2, 3))
    assert b.scores == {"decode_test/scores.json": {"ua": 0.5}}


@pytest.mark.parametrize("member", ["inputs.json", "pack.json", "scores/decode_test/scores.json"])
def test_broken_json_member_is_named(tmp_path, member):
    from mer.packing import PackError, read_archive

    pack = tiny_pack(tmp_path, **{member: b"{not json"})
    with pytest.raises(PackError, match=rf"{pack}: member {member}: not valid JSON"):
        read_archive(pack)


def test_model_member_that_runs_code_is_refused(tmp_path):
    from mer.packing import PackError, read_archive

    weights = io.BytesIO()
    torch.save({"model": {}, "epoch": CreatesAFile(tmp_path / "created")}, weights)
    pack = tiny_pack(tmp_path, **{"model.pt": weights.getvalue()})
    with pytest.raises(PackError, match=rf"{pack}: member model.pt: refused"):
        read_archive(pack)
    assert not (tmp_path / "created").exists()


PEAK_RSS = """
import resource, sys
from mer.packing import PackError, read_archive
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_archive(sys.argv[1])
    print("read")
except PackError as e:
    print(e)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, "MiB")
"""


@pytest.mark.slow
@pytest.mark.parametrize("member", ["model.pt", "junk.bin"])
def test_zero_filled_member_is_not_read_whole(tmp_path, member):
    """256 MiB of zeros gzip to about 250 KiB: the member is refused (model.pt) or skipped unread
    (a member no reader uses) while streaming, not held in memory."""
    zeros = tmp_path / "zeros"
    with open(zeros, "wb") as f:
        f.truncate(256 << 20)
    pack = tiny_pack(tmp_path, **{member: zeros})
    assert pack.stat().st_size < 2 << 20
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, str(pack)], env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    message, grown = proc.stdout.strip().splitlines()
    if member == "model.pt":
        assert message.startswith(f"{pack}: member model.pt: larger than 64 MiB"), message
    else:
        assert message == "read"
    assert int(grown.split()[0]) < 100, proc.stdout  # MiB more than before reading the pack


# ------------------------------------------------------------------ concurrent runs

CLAIM = f"""
set -euo pipefail
. {REPO}/utils/lib/log.sh
. {REPO}/utils/lib/claim.sh
trap release_claims EXIT
"""


def bash(script: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(["bash", "-c", CLAIM + script, "bash", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_a_claimed_dir_refuses_a_second_run_and_a_dead_claim_is_taken_over(tmp_path):
    exp = tmp_path / "exp"
    holder = bash('claim_dir "$1" "training $1"; echo claimed; read -r _', str(exp), stdin=subprocess.PIPE)
    assert holder.stdout.readline().strip() == "claimed"
    try:
        second = bash('claim_dir "$1" "training $1" || { echo refused; exit 3; }', str(exp))
        out, err = second.communicate(timeout=30)
        assert second.returncode == 3 and out.strip() == "refused"
        assert f"training {exp}: another run holds it: pid {holder.pid} on" in err
    finally:
        holder.communicate("done\n", timeout=30)  # ends it: its EXIT trap releases the claim
    assert not (exp / ".claim").exists()  # released on exit
    dead = subprocess.Popen(["true"])
    dead.wait()
    (exp / ".claim").mkdir()
    (exp / ".claim/owner").write_text(f"{dead.pid} {socket.gethostname()}\n")
    taker = bash('claim_dir "$1" "training $1" && echo claimed', str(exp))
    out, err = taker.communicate(timeout=30)
    assert out.strip() == "claimed" and f"from pid {dead.pid}, which no longer runs" in err


@pytest.mark.slow
def test_two_identical_stage3_runs_keep_their_logs_and_the_loser_says_why(tmp_path):
    """Stage 3 of a real recipe (its emo.sh and job backend) on fixture dumps, run twice at once: the
    second stops on its console, naming the first, and leaves the first's log and job files alone."""
    recipe = copy_recipe(tmp_path, "mini/memocmt")
    make_corpus(recipe, num_speakers=4, utts_per_speaker=6)
    for part in ("train", "valid", "test"):
        shutil.move(recipe / "data" / part, recipe / "data/fixed/fold1" / part)
    cfg = write_config(recipe / "conf/tuning/train_fixture.yaml", epochs=100000)  # still training when 2nd starts
    args = ["./run.sh", "--stage", "3", "--stop_stage", "3", "--train_nj", "2", "--train_configs",
            str(cfg.relative_to(recipe))]
    exp = recipe / "exp/fixed/train_fixture/fold1"
    first = subprocess.Popen(args, cwd=recipe, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        for _ in range(600):
            if (exp / "log/train.log").is_file() and "epoch 1:" in (exp / "log/train.log").read_text():
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the first run did not start training")
        second = subprocess.run(args, cwd=recipe, env=ENV, capture_output=True, text=True, timeout=300)
        log = (exp / "log/train.log").read_text()
    finally:
        os.killpg(first.pid, signal.SIGTERM)  # run.sh, emo.sh, the job backend and the trainer
        first.communicate(timeout=120)
    assert second.returncode != 0
    assert "Stage 3: refused: exp/fixed/train_fixture/fold1 is being trained by another run" in second.stderr
    assert "another run holds it: pid " in second.stderr, second.stderr[-2000:]
    assert log.count("train.py --config") == 1 and "epoch 1:" in log and "another process" not in log  # the first's
    assert len(list((recipe / "exp/fixed").glob(".train_jobs.*"))) == 2  # a job dir per run
    jobs = list((recipe / "exp/fixed").glob(".train_jobs.*/job.*.sh"))  # the first's job, not removed
    assert len(jobs) == 1 and "train_fixture/fold1" in jobs[0].read_text()
    assert subprocess.run(["pgrep", "-f", str(exp)], capture_output=True).returncode == 1  # nothing left running


def test_copied_decode_dir_reads_its_own_posteriors_and_non_finite_ones_are_not_written(tmp_path, caplog):
    from mer.scoring.decode_dir import load_decode_dir, write_decode_dir

    utts, classes = ["u1", "u2", "u3"], ["ang", "neu"]
    post = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], dtype=np.float32)
    original = tmp_path / "orig/fixed/c/fold1/decode_test"
    write_decode_dir(original, utts, classes, post, None, meta={}, refs=dict(zip(utts, ["ang", "neu", "neu"])))
    copy = tmp_path / "copy/fixed/c/fold1/decode_test"
    shutil.copytree(original, copy)
    write_decode_dir(original, utts, classes, post[:, ::-1].copy(), None, meta={})  # the original changes
    assert np.allclose(load_decode_dir(copy).posteriors, post)  # the copy's own, not the original's
    assert "a copied recipe?" in caplog.text
    bad = post.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"non-finite posteriors for 1 of 3 utterance\(s\), e.g. u2"):
        write_decode_dir(tmp_path / "nan", utts, classes, bad, None, meta={})
    assert not (tmp_path / "nan/meta.json").exists()
