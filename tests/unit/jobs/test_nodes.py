"""Multi-node training (mer/jobs/nodes.py, mer.bin.train_nodes): torchrun agents joined by a c10d
rendezvous, locally as two agents standing in for two nodes (real torch.distributed over gloo), and
on Slurm through stand-in sbatch / scontrol / srun that record the command lines they receive."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mer.jobs import LocalBackend, UsageError, parse_job_args
from mer.jobs.nodes import launch
from tests.helpers import REPO
from tests.helpers.slurm import first_node, recorded, slurm_stand_ins, split_srun
from tests.helpers.training import ENV, make_corpus, max_diff, run, train_cmd, weights, write_config

SLURM = str(REPO / "utils" / "slurm_cmd.sh")


def test_slurm_one_allocation_one_srun_step_one_agent_per_node(tmp_path):
    env = slurm_stand_ins(tmp_path)
    (tmp_path / "path.sh").write_text(f"export PYTHONPATH={REPO}\n")  # what a recipe's path.sh does
    train_args = ["--config", "conf/x.yaml", "--exp-dir", "exp/a b"]
    proc = subprocess.run([SLURM, "--gpu", "4", "--num-nodes", "3", "--num-threads", "3", "exp/log/train.log",
                           sys.executable, "-m", "mer.bin.train_nodes", "--nnodes", "3", "--nproc-per-node", "4",
                           "--gpus-per-node", "4", "--", *train_args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    log = (tmp_path / "exp/log/train.log").read_text()
    assert proc.returncode == 0, proc.stderr + log
    sbatch = " ".join(recorded(tmp_path, "sbatch"))
    assert "--nodes 3 --ntasks-per-node 1" in sbatch and "--gres=gpu:4" in sbatch  # GPUs per node
    flags, torchrun, rest = split_srun(recorded(tmp_path, "srun"))
    for flag in ("--nodes=3", "--ntasks=3", "--ntasks-per-node=1", "--gres=gpu:4", "--export=ALL",
                 "--kill-on-bad-exit=1", "--cpus-per-task=3"):
        assert flag in flags, (flag, flags)
    assert torchrun["--nnodes"] == "3" and torchrun["--nproc-per-node"] == "4"
    assert torchrun["--rdzv-backend"] == "c10d" and torchrun["--rdzv-id"] == "mer-777"
    host, port = torchrun["--rdzv-endpoint"].rsplit(":", 1)
    assert host == first_node() and 1024 <= int(port) < 65536  # a port of the first node's
    assert "--node-rank" not in torchrun and "--standalone" not in torchrun
    assert rest == ["-m", "mer.bin.train", *train_args]
    # the agents get the batch step's environment (path.sh's), not sbatch's PATH alone
    assert (tmp_path / "srun.pythonpath").read_text().strip() == str(REPO)
    assert "warning" not in log


def test_slurm_allocation_too_small_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "5")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "n1")
    monkeypatch.setenv("SLURM_JOB_NUM_NODES", "1")
    too_small = r"--nnodes 2, but this Slurm allocation \(job 5\) has 1 node.*--num-nodes 2"
    with pytest.raises(UsageError, match=too_small):
        launch(2, 1, 0, "mer.bin.train", [], launcher="srun")
    monkeypatch.delenv("SLURM_JOB_ID")
    with pytest.raises(UsageError, match="inside a Slurm allocation"):
        launch(2, 1, 0, "mer.bin.train", [], launcher="srun")


def test_local_backend_gives_a_job_of_n_nodes_n_times_its_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4")
    array = parse_job_args(["--gpu", "2", "--num-nodes", "2", "--max-jobs-run", "4", "log", "true"])
    assert LocalBackend().plan(array) == (1, ["0,1,2,3"])


def test_local_agents_need_their_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    with pytest.raises(UsageError, match="2 local agents with 2 GPU.*need 4 GPUs; 3 are visible"):
        launch(2, 2, 2, "mer.bin.train", [], launcher="local")


# ------------------------------------------------------------------ two agents of one rendezvous


def descendants(pid: int) -> list[int]:
    try:
        kids = [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [d for k in kids for d in (k, *descendants(k))]


@pytest.mark.slow
def test_two_agents_match_one_process_and_resume_after_a_lost_node(tmp_path):
    corpus = make_corpus(tmp_path, num_speakers=4, utts_per_speaker=12)
    cfg = write_config(tmp_path / "train.yaml", epochs=8, batch_size=6, dropout=0.0)
    keep = ("--override", "train.keep_epoch_checkpoints=8")
    run(train_cmd(corpus, cfg, "exp/one", *keep))
    nodes = (sys.executable, "-m", "mer.bin.train_nodes", "--nnodes", "2", "--launcher", "local", "--")
    two = train_cmd(corpus, cfg, "exp/two", *keep, launcher=nodes)
    proc = subprocess.Popen(two, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    epoch1 = corpus / "exp/two/epoch1.pt"
    deadline = time.time() + 240
    while not epoch1.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    agents = [int(k) for k in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    assert len(agents) == 2, "the run ended before a node could be lost"
    survivor = [agents[0], *descendants(agents[0])]
    for pid in [agents[1], *descendants(agents[1])]:  # a node dies: its agent and its worker at once
        os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "agent 1: signal 9" in err, err[-3000:]
    assert len(survivor) == 2 and not [pid for pid in survivor if Path(f"/proc/{pid}").exists()]  # all ended
    # One process and two agents of one rendezvous take the same global batches: same weights
    # after an epoch, up to float summation order (measured 5e-5; one Adam step moves a weight by
    # up to lr = 3e-3).
    assert max_diff(weights(corpus / "exp/one/epoch1.pt"), weights(epoch1)) < 5e-4
    resumed = run(two, timeout=300)
    assert "resuming from epoch" in resumed.stderr
    # and the resumed run ends where the uninterrupted one does (measured 3e-4 after 8 epochs)
    assert max_diff(weights(corpus / "exp/one/checkpoint.pt"), weights(corpus / "exp/two/checkpoint.pt")) < 2e-3
    summary = json.loads((corpus / "exp/two/train_summary.json").read_text())
    history = json.loads((corpus / "exp/two/history.json").read_text())
    assert summary["world_size"] == 2 and [h["epoch"] for h in history] == list(range(1, 9))
