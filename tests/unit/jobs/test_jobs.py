"""Job backends (mer/jobs/) through utils/local_cmd.sh and utils/slurm_cmd.sh."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mer import jobs

from tests.helpers import REPO
from tests.helpers.slurm import fake_slurm_env

ROOT = REPO
LOCAL = str(ROOT / "utils" / "local_cmd.sh")
SLURM = str(ROOT / "utils" / "slurm_cmd.sh")

# Records "<job> <start> <end> <CUDA_VISIBLE_DEVICES>" to <dir>/<job>.t after sleeping.
JOB_SH = """#!/usr/bin/env bash
start=$(date +%s.%N)
sleep "$3"
echo "$1 $start $(date +%s.%N) ${CUDA_VISIBLE_DEVICES-unset}" > "$2/$1.t"
echo "job $1 done"
"""


def sh(cmd: list[str], cwd: Path, env: dict | None = None, timeout: float = 120):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def read_times(d: Path) -> list[tuple[int, float, float, str]]:
    out = []
    for p in sorted(d.glob("*.t")):
        job, t0, t1, gpu = p.read_text().split()
        out.append((int(job), float(t0), float(t1), gpu))
    return out


def overlaps(a, b) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def check_log(path: Path, command: str, code: int, threads: int = 1) -> str:
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == f"# {command}"
    assert lines[1].startswith("# Started at ")
    assert re.fullmatch(rf"# Accounting: time=\d+ threads={threads}", lines[-2])
    assert re.fullmatch(rf"# Ended \(code {code}\) at .+", lines[-1])
    return text


@pytest.fixture
def job_sh(tmp_path: Path) -> Path:
    p = tmp_path / "job.sh"
    p.write_text(JOB_SH)
    return p


# ---------------------------------------------------------------------------- parsing, quoting


def test_shell_join():
    assert jobs.shell_join(["echo", "a b", "", "it's", "x\\y", "|", "$HOME", ">", "o"]) == \
        "echo 'a b' '' 'it'\"'\"'s' 'x\\y' | '$HOME' > o"


def test_parse_job_args():
    a = jobs.parse_job_args(["--max-jobs-run", "2", "JOB=2:4", "--mem=4G", "log/x.JOB.log",
                             "cmd", "--in", "split/JOB", "feats_JOB.scp"])
    assert (a.jobvar, list(a.ids), a.options) == ("JOB", [2, 3, 4],
                                                   {"max_jobs_run": "2", "mem": "4G"})
    assert a.log_of(3) == "log/x.3.log"
    assert a.command_of(3) == "cmd --in split/3 feats_3.scp"
    one = jobs.parse_job_args(["TASK=7", "log/t.TASK.log", "echo", "TASK"])
    assert list(one.ids) == [7] and one.command_of(7) == "echo 7"
    plain = jobs.parse_job_args(["log/a.log", "echo", "JOB"])  # no array: nothing substituted
    assert plain.jobvar is None and plain.command_of(1) == "echo JOB"


@pytest.mark.parametrize("argv, msg", [
    (["JOB=1:", "log", "x"], "looks like a job range"),
    (["JOB=3:1", "log.JOB", "x"], "3:1"),
    (["JOB=1:2", "log/x.log", "x"], "does not contain JOB"),
    (["--gpu", "x", "log", "x"], "--gpu needs an integer"),
    (["--max-jobs-run", "0", "log", "x"], ">= 1"),
    (["log/x.log"], "expected"),
    (["--mem"], "needs a value"),
])
def test_parse_job_args_errors(argv, msg):
    with pytest.raises(jobs.UsageError, match=re.escape(msg)):
        jobs.parse_job_args(argv)


def test_usage_errors_exit_2(tmp_path):
    proc = sh([LOCAL, "JOB=1:3", "log/x.log", "echo"], tmp_path)
    assert proc.returncode == 2 and "does not contain JOB" in proc.stderr
    proc = sh([LOCAL, "--help"], tmp_path)
    assert proc.returncode == 0 and "usage:" in proc.stdout


# ---------------------------------------------------------------------------- local backend


def test_local_job_array(tmp_path):
    proc = sh([LOCAL, "JOB=1:3", "exp/a/log/x.JOB.log", "echo", "hello", "JOB", "feats_JOB.scp"],
              tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    for j in (1, 2, 3):
        text = check_log(tmp_path / f"exp/a/log/x.{j}.log", f"echo hello {j} feats_{j}.scp", 0)
        assert f"\nhello {j} feats_{j}.scp\n" in text
    assert sorted(p.name for p in (tmp_path / "exp/a/log").iterdir()) == \
        ["x.1.log", "x.2.log", "x.3.log"]


def test_local_single_job_and_threads(tmp_path):
    proc = sh([LOCAL, "--num-threads", "2", "--mem", "8G", "--time", "1:00:00", "log/one.log",
               "echo", "JOB"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --mem/--time are ignored silently
    text = check_log(tmp_path / "log/one.log", "echo JOB", 0, threads=2)
    assert "\nJOB\n" in text


def test_local_quoting(tmp_path):
    proc = sh([LOCAL, "log/q.log", "printf", "<%s>\\n", "a b", "it's", "", "$HOME", "x\\y",
               "|", "tr", "a-z", "A-Z", ">", "out.txt"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    # "a b" stays one word, quotes and backslashes survive, $HOME is literal, the pipe is the shell's
    assert (tmp_path / "out.txt").read_text() == "<A B>\n<IT'S>\n<>\n<$HOME>\n<X\\Y>\n"


def test_a_path_never_runs_as_shell(tmp_path):
    # an output dir named `a;b` or holding `$(...)` is one literal argument, not a command
    for name in ("a;touch pwned", "$(touch pwned2)"):
        proc = sh([LOCAL, "log/p.log", "mkdir", "-p", name], tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / name).is_dir()
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


def test_local_concurrency_limit(tmp_path, job_sh):
    proc = sh([LOCAL, "--max-jobs-run", "1", "JOB=1:3", "log/s.JOB.log", "bash", str(job_sh),
               "JOB", str(tmp_path), "0.3"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    t = read_times(tmp_path)
    assert [x[0] for x in t] == [1, 2, 3]
    assert not any(overlaps(a, b) for i, a in enumerate(t) for b in t[i + 1:]), t


def test_local_runs_in_parallel(tmp_path, job_sh):
    proc = sh([LOCAL, "--max-jobs-run", "3", "JOB=1:3", "log/p.JOB.log", "bash", str(job_sh),
               "JOB", str(tmp_path), "1"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    t = read_times(tmp_path)
    assert len(t) == 3 and any(overlaps(a, b) for i, a in enumerate(t) for b in t[i + 1:]), t


def test_local_failure_summary_and_tail(tmp_path):
    # job 2 prints 30 lines and fails; job 3 fails too; every job still runs
    proc = sh([LOCAL, "JOB=1:3", "log/f.JOB.log", "seq", "30", ";", "echo", "job", "JOB",
               ";", "[", "JOB", "-eq", "1", "]"], tmp_path)
    assert proc.returncode == 1
    err = proc.stderr.splitlines()
    assert err[0] == "local: 2 / 3 failed, log is in log/f.2.log"
    tail = [line.strip() for line in err[2:]]
    assert len(tail) == 20
    assert tail[-3] == "job 2" and tail[-2].startswith("# Accounting: time=")
    assert tail[-1].startswith("# Ended (code 1)")
    assert tail[:2] == ["14", "15"]  # exactly the last 20 lines of the log
    for j, code in ((1, 0), (2, 1), (3, 1)):
        check_log(tmp_path / f"log/f.{j}.log",
                  f"seq 30 ; echo job {j} ; '[' {j} -eq 1 ']'", code)


def test_local_gpu_assignment(tmp_path, job_sh):
    # a stand-in nvidia-smi listing two GPUs; no real GPU is needed
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: Fake (UUID: GPU-a)'\n"
                   "echo 'GPU 1: Fake (UUID: GPU-b)'\n")
    smi.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    out = tmp_path / "t"
    out.mkdir()
    proc = sh([LOCAL, "--gpu", "1", "JOB=1:4", "log/g.JOB.log", "bash", str(job_sh), "JOB",
               str(out), "0.5"], tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    t = read_times(out)
    assert len(t) == 4 and {x[3] for x in t} <= {"0", "1"}
    for i, a in enumerate(t):
        # never two jobs on one GPU at the same time, hence never more than two at once
        assert not any(overlaps(a, b) and a[3] == b[3] for b in t[i + 1:]), t
    assert "with CUDA_VISIBLE_DEVICES=" in (tmp_path / "log/g.1.log").read_text()

    # an existing CUDA_VISIBLE_DEVICES is split between jobs; --gpu 2 takes both
    env["CUDA_VISIBLE_DEVICES"] = "3,5"
    proc = sh([LOCAL, "--gpu", "2", "JOB=1:2", "log/h.JOB.log", "bash", str(job_sh), "JOB",
               str(out), "0"], tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert {x[3] for x in read_times(out) if x[0] <= 2} == {"3,5"}

    env["CUDA_VISIBLE_DEVICES"] = ""
    proc = sh([LOCAL, "--gpu", "1", "log/n.log", "true"], tmp_path, env=env)
    assert proc.returncode == 2 and "gives 0" in proc.stderr


def test_visible_gpus_mig(tmp_path, monkeypatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\ncat <<'E'\nGPU 0: A100 (UUID: GPU-x)\n"
                   "  MIG 3g.20gb     Device  0: (UUID: MIG-aaa)\n"
                   "  MIG 3g.20gb     Device  1: (UUID: MIG-bbb)\nGPU 1: A100 (UUID: GPU-y)\nE\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert jobs.visible_gpus() == ["MIG-aaa", "MIG-bbb", "1"]
    assert jobs.visible_gpus({"CUDA_VISIBLE_DEVICES": "2,-1,3"}) == ["2"]


def interrupt_local(tmp_path, args: list[str], started_log: str) -> tuple[subprocess.Popen, str, float]:
    """Start utils/local_cmd.sh ARGS, SIGTERM it once STARTED_LOG exists; (process, stderr, seconds to exit)."""
    proc = subprocess.Popen([LOCAL, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / started_log
    deadline = time.monotonic() + 20
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    return proc, err, time.monotonic() - t0


def test_local_interrupt_kills_jobs(tmp_path):
    proc, err, seconds = interrupt_local(tmp_path, ["JOB=1:2", "log/i.JOB.log", "sleep", "30"], "log/i.2.log")
    assert proc.returncode == 128 + signal.SIGTERM and seconds < 10
    assert "interrupted" in err
    assert "# Ended (code 143)" in (tmp_path / "log/i.2.log").read_text()


def test_local_interrupt_with_jobs_not_started_ends_at_once(tmp_path):
    # One slot, three jobs: after a SIGTERM the running job is killed and the two pending ones never
    # start; the backend returns (it once spun on them, a core busy forever, long after its parent).
    proc, err, seconds = interrupt_local(
        tmp_path, ["--max-jobs-run", "1", "JOB=1:3", "log/p.JOB.log", "sleep", "30"], "log/p.1.log")
    assert proc.returncode == 128 + signal.SIGTERM and seconds < 10
    assert "1 job(s) ran, 2 not started" in err
    assert not (tmp_path / "log/p.2.log").exists()


# ---------------------------------------------------------------------------- slurm backend

@pytest.fixture
def slurm_env(tmp_path: Path) -> dict:
    return fake_slurm_env(tmp_path)


def sbatch_argv(tmp_path: Path) -> list[str]:
    return (tmp_path / "sbatch.argv").read_text().splitlines()


def test_slurm_maps_options_and_collects_results(tmp_path, slurm_env):
    (tmp_path / "path.sh").write_text("export FROM_PATH_SH=yes\n")
    proc = sh([SLURM, "--mem", "2G", "--num-threads", "2", "--gpu", "1", "--time", "4:00:00",
               "--max-jobs-run", "2", "JOB=1:3", "exp/log/x.JOB.log", "bash", "-c",
               "echo job JOB $FROM_PATH_SH"], tmp_path, env=slurm_env)
    assert proc.returncode == 0, proc.stderr
    argv = sbatch_argv(tmp_path)
    joined = " ".join(argv)
    for flags in ("--export=PATH", "--mem-per-cpu 2G", "--cpus-per-task 2", "-p gpu --gres=gpu:1",
                  "--time 4:00:00", "--parsable", "--wait", "--array=1-3%2", "--job-name=x"):
        assert flags in joined, (flags, argv)
    qdir = tmp_path / "exp/log/q"
    assert argv[-1] == str(qdir / "x.sh") and (qdir / "x.sh").is_file()
    for j in (1, 2, 3):
        text = check_log(tmp_path / f"exp/log/x.{j}.log", f"bash -c 'echo job {j} $FROM_PATH_SH'", 0,
                         threads=2)
        assert f"\njob {j} yes\n" in text  # ran in the recipe dir, after ./path.sh
        assert f"(Slurm job 4242_{j})" in text
        assert (qdir / f"done.x.{j}").read_text().strip() == "0"


def test_slurm_defaults_and_offset_range(tmp_path, slurm_env):
    proc = sh([SLURM, "JOB=3:4", "log/y.JOB.log", "echo", "JOB"], tmp_path, env=slurm_env)
    assert proc.returncode == 0, proc.stderr
    argv = sbatch_argv(tmp_path)
    assert "--array=1-2" in argv and "--gres" not in " ".join(argv)
    assert "--cpus-per-task 1" in " ".join(argv)  # default num_threads=1
    assert "\n4\n" in (tmp_path / "log/y.4.log").read_text()
    assert (tmp_path / "log/q/done.y.3").read_text().strip() == "0"


def test_slurm_failure_summary(tmp_path, slurm_env):
    proc = sh([SLURM, "JOB=1:3", "log/f.JOB.log", "echo", "oops", "JOB", ";", "[", "JOB",
               "-ne", "2", "]"], tmp_path, env=slurm_env)
    assert proc.returncode == 1
    err = proc.stderr.splitlines()
    assert err[0] == "slurm: 1 / 3 failed, log is in log/f.2.log"
    assert "  oops 2" in err and err[-1].strip().startswith("# Ended (code 1)")
    assert (tmp_path / "log/q/done.f.2").read_text().strip() == "1"


def test_slurm_task_without_status(tmp_path, slurm_env):
    env = dict(slurm_env, FAKE_SBATCH_SKIP="2", MER_SLURM_DONE_WAIT="0")
    proc = sh([SLURM, "JOB=1:2", "log/k.JOB.log", "true"], tmp_path, env=env)
    assert proc.returncode == 1
    assert proc.stderr.startswith("slurm: 1 / 2 failed, log is in log/k.2.log\n")
    assert "left no exit status" in proc.stderr and "k.2.out" in proc.stderr


def test_slurm_config_file(tmp_path, slurm_env):
    conf = tmp_path / "my.conf"
    conf.write_text("command sbatch --export=ALL --account=abc  # site flags\n"
                    "option partition=* -p $0\ndefault partition=cpu\n"
                    "option gpu=* --gres=gpu:$0\n")
    proc = sh([SLURM, "--config", str(conf), "--gpu", "2", "log/c.log", "true"], tmp_path,
              env=slurm_env)
    assert proc.returncode == 0, proc.stderr
    joined = " ".join(sbatch_argv(tmp_path))
    assert "--export=ALL --account=abc -p cpu --gres=gpu:2" in joined
    proc = sh([SLURM, "--config", str(conf), "--mem", "4G", "log/c.log", "true"], tmp_path,
              env=slurm_env)
    assert proc.returncode == 2 and "--mem is not described in" in proc.stderr

    # Without --config, conf/slurm.conf in the current directory is used (as Kaldi does).
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/slurm.conf").write_text("command sbatch --qos=low\n")
    proc = sh([SLURM, "log/d.log", "true"], tmp_path, env=slurm_env)
    assert proc.returncode == 0, proc.stderr
    assert sbatch_argv(tmp_path)[:1] == ["--qos=low"]


def test_slurm_config_parse():
    conf = jobs.SlurmConfig.parse(jobs.DEFAULT_SLURM_CONF)
    assert conf.submit_args({"mem": "4G", "gpu": "1"}) == [
        "sbatch", "--export=PATH", "--mem-per-cpu", "4G", "--cpus-per-task", "1",
        "-p", "gpu", "--gres=gpu:1"]
    assert conf.submit_args({"mem": "0"}) == ["sbatch", "--export=PATH", "--cpus-per-task", "1"]
    with pytest.raises(jobs.UsageError, match="unknown keyword"):
        jobs.SlurmConfig.parse("command sbatch\noptoin mem=* x\n")
    with pytest.raises(jobs.UsageError, match="no 'command' line"):
        jobs.SlurmConfig.parse("option mem=* x\n")


def test_shipped_slurm_conf_matches_default():
    assert (ROOT / "utils/conf/slurm.conf").read_text() == jobs.DEFAULT_SLURM_CONF


def test_shellcheck_wrappers():
    sc = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")
    if not Path(sc).exists():
        pytest.skip("shellcheck not installed")
    proc = subprocess.run([sc, "-S", "warning", "-x", LOCAL, SLURM], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout


def test_killing_the_backend_ends_its_jobs(tmp_path):
    # a SIGKILL of the launcher (a killed stage driver) must not leave the job running
    marker = tmp_path / "alive"
    launcher = subprocess.Popen([LOCAL, "log/k.log", "bash", "-c", f"exec sleep 31.4159; touch {marker}"],
                                cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 20
    pids = []
    while time.time() < deadline and not pids:
        out = subprocess.run(["pgrep", "-f", "^sleep 31.4159"], capture_output=True, text=True).stdout.split()
        pids = [int(p) for p in out]
        time.sleep(0.1)
    assert pids, "the job did not start"
    launcher.kill()  # local_cmd.sh execs the backend: this SIGKILLs the backend itself
    launcher.wait()
    deadline = time.time() + 30
    while time.time() < deadline:
        still = subprocess.run(["pgrep", "-f", "^sleep 31.4159"], capture_output=True, text=True).stdout.split()
        if not still:
            break
        time.sleep(0.2)
    assert not still, f"orphan job(s) still running: {still}"
